"""Encounters on both databases: encryption at rest, invites, status, NHS-number search."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, select, text, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.crypto.fields import DecryptionError
from shared.db.statuses import EncounterStatus
from shared.db.tables import encounters, metadata
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.errors import EncounterError
from shared.encounters.requests import (
    decrypt_patient,
    decrypt_request_note,
    derived_status,
    find_by_nhs_number,
    reissue_invite,
    unlock,
)
from shared.encounters.verification import MAX_DOB_FAILURES, wrong_dates_in_a_row
from shared.ids import token_hash
from shared.notifications import outbox
from tests.support.factories import PATIENT, REQUEST_NOTE, make_clinician, make_encounter

PLAINTEXTS = [
    "Zebedee",
    "Quartermain",
    "1961-07-14",
    "9434765919",
    "943 476 5919",
    "7700900123",
    "zebedee.q@example.org",
    "forearm",
]


def raw_dump(ctx: AppContext) -> bytes:
    """Every value of every table, read with plain SQL, as one blob of bytes."""
    blob = bytearray()
    with ctx.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):
                for value in row:
                    blob += value if isinstance(value, bytes | bytearray) else str(value).encode()
    return bytes(blob)


def test_raw_rows_hold_no_patient_plaintext(ctx: AppContext) -> None:
    invite = make_encounter(ctx, make_clinician(ctx))
    dump = raw_dump(ctx)
    for plaintext in [*PLAINTEXTS, invite.token]:
        assert plaintext.encode() not in dump, plaintext
    with ctx.engine.connect() as conn:
        row = conn.execute(select(encounters).where(encounters.c.id == invite.encounter_id)).one()
    assert decrypt_patient(ctx.cipher, row) == PATIENT
    assert decrypt_request_note(ctx.cipher, row) == REQUEST_NOTE
    assert row.invite_token_hash == token_hash(invite.token)
    assert invite.link == f"{ctx.settings.patient_base_url}/p/{invite.token}"


def test_ciphertext_moved_to_another_row_or_flipped_does_not_decrypt(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    first, second = make_encounter(ctx, clinician), make_encounter(ctx, clinician)
    with ctx.engine.begin() as conn:
        stolen = conn.execute(select(encounters.c.patient_name).where(encounters.c.id == first.encounter_id)).scalar()
        conn.execute(update(encounters).where(encounters.c.id == second.encounter_id).values(patient_name=stolen))
        moved = conn.execute(select(encounters).where(encounters.c.id == second.encounter_id)).one()
        with pytest.raises(DecryptionError):
            decrypt_patient(ctx.cipher, moved)
        flipped = bytearray(stolen)
        flipped[-1] ^= 0x80
        conn.execute(
            update(encounters).where(encounters.c.id == first.encounter_id).values(patient_name=bytes(flipped))
        )
        tampered = conn.execute(select(encounters).where(encounters.c.id == first.encounter_id)).one()
        with pytest.raises(DecryptionError):
            decrypt_patient(ctx.cipher, tampered)


def lock_by_wrong_dates(conn: Connection, encounter_id: str) -> None:
    """What MAX_DOB_FAILURES wrong dates of birth leave: their audit events and the lock."""
    for _ in range(MAX_DOB_FAILURES):
        audit.record(conn, "patient.dob_failed", actor_type=audit.ACTOR_PATIENT, encounter_id=encounter_id)
    conn.execute(update(encounters).where(encounters.c.id == encounter_id).values(locked_at=utcnow()))
    assert wrong_dates_in_a_row(conn, encounter_id) == MAX_DOB_FAILURES


def test_reissue_kills_the_old_link_and_clears_a_lock(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    with ctx.engine.begin() as conn:
        lock_by_wrong_dates(conn, invite.encounter_id)
        row = conn.execute(select(encounters)).one()
    assert derived_status(row) == EncounterStatus.LOCKED
    again = reissue_invite(ctx, invite.encounter_id, actor=Actor(clinician))
    with ctx.engine.connect() as conn:
        row = conn.execute(select(encounters)).one()
        assert wrong_dates_in_a_row(conn, invite.encounter_id) == 0
    assert again.token != invite.token
    assert row.invite_token_hash == token_hash(again.token) != token_hash(invite.token)
    assert row.locked_at is None
    assert derived_status(row) == EncounterStatus.INVITED
    with ctx.engine.connect() as conn:
        assert len(outbox.for_encounter(conn, ctx.cipher, invite.encounter_id)) == 4  # sms+email, twice


def test_unlock_keeps_the_link(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    with ctx.engine.begin() as conn:
        lock_by_wrong_dates(conn, invite.encounter_id)
    unlock(ctx, invite.encounter_id, actor=Actor(clinician))
    with ctx.engine.connect() as conn:
        row = conn.execute(select(encounters)).one()
        assert wrong_dates_in_a_row(conn, invite.encounter_id) == 0
    assert row.locked_at is None and row.invite_token_hash == token_hash(invite.token)


def test_submitted_encounter_cannot_be_reissued(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    invite = make_encounter(ctx, clinician)
    with ctx.engine.begin() as conn:
        conn.execute(update(encounters).values(status=EncounterStatus.SUBMITTED, submitted_at=utcnow()))
    with pytest.raises(EncounterError, match="already sent"):
        reissue_invite(ctx, invite.encounter_id, actor=Actor(clinician))


def test_expiry_is_derived(ctx: AppContext) -> None:
    make_encounter(ctx, make_clinician(ctx))
    with ctx.engine.connect() as conn:
        row = conn.execute(select(encounters)).one()
    assert derived_status(row, now=row.invite_expires_at - dt.timedelta(seconds=1)) == EncounterStatus.INVITED
    assert derived_status(row, now=row.invite_expires_at) == EncounterStatus.EXPIRED


def test_search_by_nhs_number_uses_the_blind_index(ctx: AppContext) -> None:
    clinician = make_clinician(ctx)
    wanted = make_encounter(ctx, clinician)
    make_encounter(
        ctx, clinician, patient=PATIENT.__class__.from_input(name="Other Person", date_of_birth="1990-01-01")
    )
    with ctx.engine.connect() as conn:
        found = find_by_nhs_number(conn, ctx.blind_index, "9434765919")
        assert [row.id for row in found] == [wanted.encounter_id]
        assert find_by_nhs_number(conn, ctx.blind_index, "401 023 2137") == []


def test_a_row_becomes_an_encounter_with_every_column(ctx: AppContext) -> None:
    invite = make_encounter(ctx, make_clinician(ctx))
    with ctx.engine.connect() as conn:
        row = conn.execute(select(encounters).where(encounters.c.id == invite.encounter_id)).one()
        encounter = load_encounter(conn, invite.encounter_id)
        assert load_encounter(conn, "0" * 32) is None
    assert isinstance(encounter, Encounter)
    assert {column.name for column in encounters.columns} == set(Encounter.__dataclass_fields__)
    assert all(getattr(encounter, name) == value for name, value in row._mapping.items())
    assert decrypt_patient(ctx.cipher, encounter) == PATIENT
