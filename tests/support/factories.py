"""Small builders for test data through the real code paths."""

from __future__ import annotations

from shared.context import Actor, AppContext
from shared.encounters.requests import Invite, PatientDetails, register_encounter
from shared.staff.accounts import create_user

PATIENT = PatientDetails.from_input(
    name="Zebedee Quartermain",
    date_of_birth="1961-07-14",
    nhs_number="943 476 5919",
    phone="07700 900123",
    email="zebedee.q@example.org",
)
REQUEST_NOTE = "Photos of the rash on your left forearm, in daylight"


def make_clinician(ctx: AppContext, username: str = "drjones", team: str = "Dermatology") -> str:
    return create_user(ctx, username=username, display_name=f"Dr {username}", role="clinician", team=team).user_id


def make_encounter(ctx: AppContext, clinician_id: str, patient: PatientDetails = PATIENT) -> Invite:
    return register_encounter(ctx, Actor(clinician_id), patient=patient, request_note=REQUEST_NOTE)
