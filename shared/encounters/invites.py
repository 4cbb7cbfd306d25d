"""The live patient link of an encounter: showing it again, sending it again, and the messages that carried it.

Only the SHA-256 of an invite token is kept with the encounter; the link
itself exists only inside the (encrypted) outbox message that carried it.
Sending again re-queues that same link, so the patient's first message
keeps working; a new link is `requests.reissue_invite`. Showing and
sending again are audited, each in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Connection

from shared import audit
from shared.context import Actor, AppContext
from shared.encounters.encounter import Encounter, load_encounter
from shared.encounters.errors import EncounterError
from shared.encounters.requests import (
    CLOSED_STATUSES,
    Invite,
    decrypt_patient,
    invite_expiry_text,
    invite_link,
)
from shared.ids import token_hash
from shared.notifications import outbox
from shared.notifications.outbox import KIND_PATIENT_INVITE, Notification

NOT_IN_OUTBOX = "The current link is no longer in the outbox. Issue a new link instead."


def _links_in(body: str, patient_base_url: str) -> list[str]:
    prefix = re.escape(invite_link(patient_base_url, ""))
    return re.findall(prefix + r"[A-Za-z0-9_-]+", body)


def current_invite(ctx: AppContext, conn: Connection, row: Encounter) -> Invite | None:
    """The encounter's live link read back from the outbox, or None when no message holds it."""
    if row.invite_token_hash is None or row.invite_expires_at is None:
        return None
    for message in outbox.for_encounter(conn, ctx.cipher, row.id):
        if message.kind != KIND_PATIENT_INVITE:
            continue
        for link in _links_in(message.body, ctx.settings.patient_base_url):
            token = link.rsplit("/", 1)[-1]
            if token_hash(token) == row.invite_token_hash:
                return Invite(row.id, token, link, row.invite_expires_at)
    return None


def _load(conn: Connection, encounter_id: str) -> Encounter:
    row = load_encounter(conn, encounter_id)
    if row is None or row.deleted_at is not None:
        raise EncounterError("That encounter does not exist.")
    return row


def show_link(ctx: AppContext, encounter_id: str, *, actor: Actor) -> Invite:
    """The live link, to hand over in clinic (text and QR code); showing it is audited."""
    with ctx.engine.begin() as conn:
        invite = current_invite(ctx, conn, _load(conn, encounter_id))
        if invite is None:
            raise EncounterError(NOT_IN_OUTBOX)
        audit.record(
            conn,
            "invite.shown",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=encounter_id,
            remote_addr=actor.remote_addr,
        )
    return invite


def resend_invite(ctx: AppContext, encounter_id: str, *, actor: Actor, now: dt.datetime) -> Invite:
    """Queue the same live link again to the patient's phone and/or email."""
    with ctx.engine.begin() as conn:
        row = _load(conn, encounter_id)
        if row.status in CLOSED_STATUSES:
            raise EncounterError("The patient has already sent their photos and videos.")
        if row.locked_at is not None:
            raise EncounterError("The link is locked after wrong dates of birth. Unlock it, or issue a new link.")
        if row.invite_expires_at is None or row.invite_expires_at <= now:
            raise EncounterError("The link has expired. Issue a new link instead.")
        invite = current_invite(ctx, conn, row)
        if invite is None:
            raise EncounterError(NOT_IN_OUTBOX)
        patient = decrypt_patient(ctx.cipher, row)
        outbox.invite_patient(
            conn,
            ctx,
            encounter_id=row.id,
            team=row.team,
            link=invite.link,
            expires_text=invite_expiry_text(invite.expires_at),
            phone=patient.phone,
            email=patient.email,
        )
        audit.record(
            conn,
            "invite.resent",
            actor_type=audit.ACTOR_USER,
            actor_id=actor.user_id,
            encounter_id=row.id,
            remote_addr=actor.remote_addr,
        )
    return invite


def invite_messages(ctx: AppContext, encounter_id: str) -> list[Notification]:
    """The messages that carried the encounter's invites, newest first (recipient decrypted for display only)."""
    with ctx.engine.connect() as conn:
        messages = outbox.for_encounter(conn, ctx.cipher, encounter_id)
    return [message for message in messages if message.kind == KIND_PATIENT_INVITE]
