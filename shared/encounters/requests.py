"""Encounters: registering a patient request, its invite link, and its status.

Patient fields are encrypted before they reach the database; the NHS number
is also kept as an HMAC blind index for exact-match search. Only the SHA-256
of an invite token is stored; the token itself exists in the link alone.
Each service (register, reissue, unlock) runs in its own transaction and
writes its own audit event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.crypto.fields import BlindIndex, FieldCipher
from shared.db.statuses import EncounterStatus
from shared.db.tables import encounters, users
from shared.encounters.encounter import Encounter, encounters_from, load_encounter
from shared.encounters.errors import EncounterError
from shared.encounters.identifiers import (
    InvalidIdentifier,
    normalize_email,
    normalize_nhs_number,
    normalize_person_name,
    normalize_uk_mobile,
    parse_date_of_birth,
)
from shared.ids import new_id, new_secret_token, token_hash
from shared.notifications import outbox

TABLE = "encounters"
NHS_INDEX_PURPOSE = "nhs_number"
MAX_REQUEST_NOTE = 1000
MAX_BODY_SITE = 100
CLOSED_STATUSES = (EncounterStatus.SUBMITTED, EncounterStatus.REVIEWED)


@dataclass(frozen=True)
class PatientDetails:
    name: str
    date_of_birth: dt.date
    nhs_number: str | None = None
    phone: str | None = None
    email: str | None = None

    @classmethod
    def from_input(
        cls,
        *,
        name: str,
        date_of_birth: str,
        nhs_number: str | None = None,
        phone: str | None = None,
        email: str | None = None,
    ) -> PatientDetails:
        """Validate and normalise what a clinician typed; raises InvalidIdentifier."""
        return cls(
            name=normalize_person_name(name),
            date_of_birth=parse_date_of_birth(date_of_birth),
            nhs_number=normalize_nhs_number(nhs_number) if nhs_number else None,
            phone=normalize_uk_mobile(phone) if phone else None,
            email=normalize_email(email) if email else None,
        )


def patient_from_form(
    *,
    name: str,
    date_of_birth: dt.date | None,
    nhs_number: str,
    phone: str,
    email: str,
    in_clinic: bool,
) -> PatientDetails:
    """The New request form, checked: the link must reach the patient (phone, email or in clinic).

    Raises InvalidIdentifier with what to correct.
    """
    if not (phone.strip() or email.strip() or in_clinic):
        raise InvalidIdentifier("Enter a UK mobile number or an email address, or tick the in-clinic box.")
    if date_of_birth is None:
        raise InvalidIdentifier("Enter the patient's date of birth.")
    return PatientDetails.from_input(
        name=name,
        date_of_birth=date_of_birth.isoformat(),
        nhs_number=nhs_number.strip() or None,
        phone=phone.strip() or None,
        email=email.strip() or None,
    )


@dataclass(frozen=True)
class Invite:
    encounter_id: str
    token: str
    link: str
    expires_at: dt.datetime


def invite_link(patient_base_url: str, token: str) -> str:
    return f"{patient_base_url}/p/{token}"


def invite_expiry_text(expires_at: dt.datetime) -> str:
    """How an invite message states its expiry (the same words when it is sent again)."""
    return expires_at.strftime("%d %B %Y %H:%M UTC")


def nhs_number_index(blind_index: BlindIndex, nhs_number: str) -> str:
    return blind_index.digest(NHS_INDEX_PURPOSE, normalize_nhs_number(nhs_number))


def validate_request_note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > MAX_REQUEST_NOTE:
        raise InvalidIdentifier(f"The request note is too long ({len(note)} characters; at most {MAX_REQUEST_NOTE}).")
    return note or None


def validate_body_site(body_site: str | None) -> str | None:
    """Where the photos are of ("left forearm"): filed to the record as the body part, so one short line."""
    site = " ".join((body_site or "").split())
    if len(site) > MAX_BODY_SITE:
        raise InvalidIdentifier(f"The body site is too long ({len(site)} characters; at most {MAX_BODY_SITE}).")
    if any(ord(char) < 32 or 0x7F <= ord(char) < 0xA0 for char in (body_site or "")):
        raise InvalidIdentifier("The body site contains characters that are not allowed.")
    return site or None


def derived_status(row: Encounter, now: dt.datetime | None = None) -> EncounterStatus:
    """What a clinician sees: the stored stage, unless the link is locked or has expired first."""
    stored = EncounterStatus(row.status)
    if stored in CLOSED_STATUSES:
        return stored
    if row.locked_at is not None:
        return EncounterStatus.LOCKED
    if row.invite_expires_at is not None and row.invite_expires_at <= (now or utcnow()):
        return EncounterStatus.EXPIRED
    return stored


def decrypt_patient(cipher: FieldCipher, row: Encounter) -> PatientDetails:
    """Decrypt for display only; never log or store the result."""

    def field(column: str) -> str | None:
        return cipher.decrypt_optional(TABLE, column, row.id, getattr(row, column))

    return PatientDetails(
        name=field("patient_name") or "",
        date_of_birth=dt.date.fromisoformat(field("date_of_birth") or ""),
        nhs_number=field("nhs_number"),
        phone=field("phone"),
        email=field("email"),
    )


def decrypt_request_note(cipher: FieldCipher, row: Encounter) -> str | None:
    return cipher.decrypt_optional(TABLE, "request_note", row.id, row.request_note)


def decrypt_body_site(cipher: FieldCipher, row: Encounter) -> str | None:
    return cipher.decrypt_optional(TABLE, "body_site", row.id, row.body_site)


def _lifetime(ctx: AppContext, lifetime_hours: int | None) -> dt.timedelta:
    hours = lifetime_hours or ctx.settings.invite_lifetime_hours
    if not 1 <= hours <= 24 * 28:
        raise InvalidIdentifier("The link lifetime must be between 1 hour and 28 days.")
    return dt.timedelta(hours=hours)


def _issue_invite(
    ctx: AppContext,
    conn: Connection,
    encounter_id: str,
    lifetime: dt.timedelta,
    patient: PatientDetails,
    team: str | None,
) -> Invite:
    now = utcnow()
    token = new_secret_token()
    expires_at = now + lifetime
    conn.execute(
        update(encounters)
        .where(encounters.c.id == encounter_id)
        .values(
            invite_token_hash=token_hash(token),
            invite_expires_at=expires_at,
            invited_at=now,
            locked_at=None,
            updated_at=now,
        )
    )
    link = invite_link(ctx.settings.patient_base_url, token)
    outbox.invite_patient(
        conn,
        ctx,
        encounter_id=encounter_id,
        team=team,
        link=link,
        expires_text=invite_expiry_text(expires_at),
        phone=patient.phone,
        email=patient.email,
    )
    return Invite(encounter_id, token, link, expires_at)


def register_encounter(
    ctx: AppContext,
    actor: Actor,
    *,
    patient: PatientDetails,
    request_note: str | None = None,
    lifetime_hours: int | None = None,
    reminders: bool = True,
    body_site: str | None = None,
) -> Invite:
    """Create the encounter for the acting clinician and its first invite (queued to the patient).

    `reminders`: whether the patient is reminded on the configured schedule
    if they have not sent anything (switchable later: `set_reminders`).
    `body_site`: where the photos are of, when the clinician says (filed to the record with them).
    """
    lifetime = _lifetime(ctx, lifetime_hours)
    note = validate_request_note(request_note)
    site = validate_body_site(body_site)
    with ctx.engine.begin() as conn:
        clinician = conn.execute(select(users.c.id, users.c.team).where(users.c.id == actor.user_id)).first()
        if clinician is None:
            raise EncounterError("The clinician account does not exist.")
        encounter_id = new_id()
        now = utcnow()

        def enc(column: str, value: str | None) -> bytes | None:
            return ctx.cipher.encrypt_optional(TABLE, column, encounter_id, value)

        conn.execute(
            encounters.insert().values(
                id=encounter_id,
                clinician_id=actor.user_id,
                team=clinician.team,
                status=EncounterStatus.INVITED,
                patient_name=enc("patient_name", patient.name),
                date_of_birth=enc("date_of_birth", patient.date_of_birth.isoformat()),
                nhs_number=enc("nhs_number", patient.nhs_number),
                nhs_number_index=nhs_number_index(ctx.blind_index, patient.nhs_number) if patient.nhs_number else None,
                phone=enc("phone", patient.phone),
                email=enc("email", patient.email),
                request_note=enc("request_note", note),
                body_site=enc("body_site", site),
                reminders_enabled=reminders,
                created_at=now,
                updated_at=now,
            )
        )
        invite = _issue_invite(ctx, conn, encounter_id, lifetime, patient, clinician.team)
        audit.record(
            conn,
            "encounter.created",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
            detail={"invite_expires_at": invite.expires_at.isoformat(), "reminders": reminders},
        )
    return invite


def load_open(conn: Connection, encounter_id: str) -> Encounter:
    """The encounter, if its link may still change: it exists, is not deleted and the patient has not sent."""
    row = load_encounter(conn, encounter_id)
    if row is None or row.deleted_at is not None:
        raise EncounterError("That encounter does not exist.")
    if row.status in CLOSED_STATUSES:
        raise EncounterError("The patient has already sent their photos and videos; register a new request instead.")
    return row


def reissue_invite(ctx: AppContext, encounter_id: str, *, actor: Actor, lifetime_hours: int | None = None) -> Invite:
    """New token (the old link stops working), fresh expiry, lock cleared; its audit event starts the count of
    wrong dates of birth again (shared.encounters.verification.wrong_dates_in_a_row)."""
    with ctx.engine.begin() as conn:
        row = load_open(conn, encounter_id)
        lifetime = _lifetime(ctx, lifetime_hours)
        invite = _issue_invite(ctx, conn, encounter_id, lifetime, decrypt_patient(ctx.cipher, row), row.team)
        audit.record(
            conn,
            "invite.reissued",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
            detail={"invite_expires_at": invite.expires_at.isoformat(), "was_locked": row.locked_at is not None},
        )
    return invite


def unlock(ctx: AppContext, encounter_id: str, *, actor: Actor) -> None:
    """Clear a date-of-birth lockout while keeping the same link; the audit event starts the count of wrong
    dates again (shared.encounters.verification.wrong_dates_in_a_row)."""
    with ctx.engine.begin() as conn:
        load_open(conn, encounter_id)
        conn.execute(
            update(encounters).where(encounters.c.id == encounter_id).values(locked_at=None, updated_at=utcnow())
        )
        audit.record(
            conn,
            "invite.unlocked",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )


def set_reminders(ctx: AppContext, encounter_id: str, enabled: bool, *, actor: Actor) -> None:
    """Switch the patient's reminders off (or back on) for this request; audited when it changes.

    Reminders already queued still go; none is queued while they are off
    (shared.notifications.reminders reads `reminders_enabled`).
    """
    with ctx.engine.begin() as conn:
        row = load_open(conn, encounter_id)
        if row.reminders_enabled == enabled:
            return
        conn.execute(
            update(encounters)
            .where(encounters.c.id == encounter_id)
            .values(reminders_enabled=enabled, updated_at=utcnow())
        )
        audit.record(
            conn,
            "reminders.switched_on" if enabled else "reminders.switched_off",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )


def find_by_nhs_number(conn: Connection, blind_index: BlindIndex, nhs_number: str) -> list[Encounter]:
    """Exact-match search through the blind index, newest first (raises InvalidIdentifier for a bad number).

    Not limited to what anyone may see: `queries.search_by_nhs_number` is the search people use.
    """
    digest = nhs_number_index(blind_index, nhs_number)
    query = (
        select(encounters)
        .where(encounters.c.nhs_number_index == digest, encounters.c.deleted_at.is_(None))
        .order_by(encounters.c.created_at.desc())
    )
    return encounters_from(conn.execute(query))
