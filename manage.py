#!/usr/bin/env python3
"""Operator commands for MIA. Errors are one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from shared.clock import utcnow
from shared.config.keys import add_file_key, load_keys, retire_file_keys
from shared.config.records import DESTINATIONS
from shared.config.settings import ConfigError, Settings, load_settings
from shared.context import Actor, AppContext, build_context
from shared.crypto.fields import FieldCipher
from shared.crypto.rotation import key_ids_in_use, reencrypt_all
from shared.db.migrations import is_up_to_date, migrate
from shared.encounters.errors import EncounterError
from shared.encounters.identifiers import InvalidIdentifier
from shared.encounters.invites import invite_messages
from shared.encounters.requests import PatientDetails, register_encounter
from shared.governance.purge import purge_expired
from shared.logging.json_lines import configure_logging
from shared.notifications import alerts, receipts, reminders
from shared.notifications.channels.notify import NotifyChannel
from shared.notifications.dispatcher import CycleTask, Dispatcher, FailureHook, configured_channels
from shared.numbers import whole_number
from shared.private_files import PRIVATE_DIR_MODE, tighten
from shared.records import filings
from shared.records.errors import RecordsError
from shared.records.filer import Filer
from shared.records.runner import FilingRunner
from shared.staff.accounts import UserError, create_user, user_id_for
from shared.storage.base import StorageError

EXIT_USAGE = 2


class CommandError(Exception):
    """A command cannot run as asked (message is one line for the operator)."""


def cmd_init(ctx: AppContext, args: argparse.Namespace) -> None:
    """Prepare var/: keys (generated once), storage directory, database schema."""
    tighten(ctx.settings.data_dir, PRIVATE_DIR_MODE)  # the database, objects and keys live here
    migrate(ctx.engine)
    print(f"ready: database migrated, storage at {ctx.settings.storage_url}")


def cmd_migrate(ctx: AppContext, args: argparse.Namespace) -> None:
    migrate(ctx.engine)
    print("database schema is up to date")


def cmd_create_user(ctx: AppContext, args: argparse.Namespace) -> None:
    enrollment = create_user(
        ctx, username=args.username, display_name=args.name, role=args.role, team=args.team, email=args.email
    )
    valid_until = f"{enrollment.expires_at:%Y-%m-%d %H:%M} UTC"
    print(f"created {args.role} {args.username!r}; one-time enrollment link (valid until {valid_until}):")
    print(enrollment.link)


def cmd_create_encounter(ctx: AppContext, args: argparse.Namespace) -> None:
    patient = PatientDetails.from_input(
        name=args.name, date_of_birth=args.dob, nhs_number=args.nhs_number, phone=args.phone, email=args.email
    )
    clinician_id = user_id_for(ctx, args.clinician)
    if clinician_id is None:
        raise CommandError(f"no user named {args.clinician!r}; create one with: manage.py create-user")
    invite = register_encounter(
        ctx,
        Actor(clinician_id),
        patient=patient,
        request_note=args.note,
        lifetime_hours=args.lifetime_hours,
        body_site=args.body_site,
    )
    for message in invite_messages(ctx, invite.encounter_id):  # the link stays the last line, for scripts
        print(INVITE_STATES.get((message.channel, message.status), f"{message.channel}: {message.status}"))
    print(f"encounter {invite.encounter_id}; patient link (valid until {invite.expires_at:%Y-%m-%d %H:%M} UTC):")
    print(invite.link)


INVITE_STATES = {
    ("sms", "pending"): "text message: queued; manage.py deliver-notifications sends it",
    ("email", "pending"): "email: queued; manage.py deliver-notifications sends it",
    ("sms", "not_configured"): "text message: NOT sent, no SMS service is configured; hand the link over yourself",
    ("email", "not_configured"): "email: NOT sent, no email service is configured; hand the link over yourself",
    ("portal", "pending"): "no phone or email given: hand the link over yourself",
}


def cmd_rotate_keys(ctx: AppContext, args: argparse.Namespace) -> None:
    env_keys = bool(os.environ.get("MIA_ENCRYPTION_KEYS"))
    if not env_keys:
        new_id = add_file_key(ctx.settings)
        print(f"new encryption key {new_id} added to {ctx.settings.keys_file} and made current")
    cipher = FieldCipher(load_keys(ctx.settings).encryption)
    counts = reencrypt_all(ctx.engine, cipher)
    print(f"re-encrypted under key {cipher.current_key_id}: " + json.dumps(counts, sort_keys=True))
    in_use = key_ids_in_use(ctx.engine, cipher)
    if args.retire and not env_keys:
        retired = retire_file_keys(ctx.settings, in_use)
        print(f"retired keys no value uses: {', '.join(retired) or 'none'}")
    elif env_keys:
        print(f"keys still in use: {', '.join(sorted(in_use)) or 'none'}; remove the others from MIA_ENCRYPTION_KEYS")


def cmd_purge_expired(ctx: AppContext, args: argparse.Namespace) -> None:
    """Once, or every N seconds as the embedded mode's maintenance service."""
    while True:
        print(json.dumps(purge_expired(ctx), sort_keys=True), flush=True)
        if not args.every:
            return
        time.sleep(args.every)


def delivery_extras(ctx: AppContext, notify: NotifyChannel | None) -> tuple[list[CycleTask], FailureHook | None]:
    """What the dispatcher runs besides delivery: per-cycle tasks (reminders to queue, failed files to alert on,
    receipts to poll with Notify's `lookup`) and the hook told of a patient's message that failed for good (the
    clinician's alert)."""
    tasks = [
        CycleTask("reminders", lambda now: reminders.queue_due(ctx, now)),
        CycleTask("processing failures", lambda now: alerts.queue_processing_failures(ctx, now)),
    ]
    if notify is not None:
        tasks.append(CycleTask("receipts", lambda now: receipts.poll_unconfirmed(ctx, notify.lookup, now)))
    return tasks, alerts.invite_failed


def cmd_deliver_notifications(ctx: AppContext, args: argparse.Namespace) -> None:
    """The dispatcher: long-running (SIGTERM or SIGINT stops it after the message in hand), or --once."""
    channels, notify = configured_channels(ctx.settings.messaging)
    tasks, on_failure = delivery_extras(ctx, notify)
    stop = threading.Event()
    dispatcher = Dispatcher(ctx, channels, tasks=tasks, on_failure=on_failure, stop=stop)
    if args.once:
        report = dispatcher.run_cycle()
        counts = {"sent": report.sent, "retried": report.retried, "failed": report.failed}
        print(json.dumps({**counts, "not_configured": report.not_configured}, sort_keys=True))
        return

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    dispatcher.run_forever()


def record_filers(settings: Settings) -> dict[str, Filer]:
    """The filer of each record destination that is on (imported only then: pydicom and fhir.resources are big)."""
    on = settings.records.destinations
    filers: dict[str, Filer] = {}
    if "dicom" in on:
        from processors.dicom_copies import baseline_jpeg, fit_for_dicom
        from shared.records.dicom import file_dicom

        fit_video = fit_for_dicom(settings)
        filers["dicom"] = lambda document, content, records: file_dicom(
            document, content, records, fit_video=fit_video, fit_photo=baseline_jpeg
        )
    if "fhir" in on:
        from shared.records.fhir import file_fhir

        filers["fhir"] = file_fhir
    if "xds" in on:
        from shared.records.xds import file_xds

        filers["xds"] = file_xds
    return filers


FILING_WORDS = {
    "acknowledged": "filed and acknowledged",
    "sent": "filed (accepted, not yet acknowledged)",
    "queued": "NOT filed yet; the records service tries again",
    "sending": "being filed by the records service",
    "failed": "FAILED",
}


def cmd_file_to_record(ctx: AppContext, args: argparse.Namespace) -> int:
    """Queue the encounter for each destination and file it now; one line per destination, 1 unless all filed."""
    actor = None
    if args.by:
        user_id = user_id_for(ctx, args.by)
        if user_id is None:
            raise CommandError(f"no user named {args.by!r}")
        actor = Actor(user_id)
    filings.request_filing(ctx, args.encounter, actor=actor, now=utcnow(), destinations=args.destination)
    FilingRunner(ctx, record_filers(ctx.settings)).file_due(encounter_id=args.encounter)
    states = [
        state
        for state in filings.filing_states(ctx, args.encounter)
        if args.destination is None or state.destination in args.destination
    ]
    for state in states:
        why = state.failure_reason if state.status == "failed" else state.detail
        print(f"{state.destination}: {FILING_WORDS.get(state.status, state.status)}" + (f": {why}" if why else ""))
    return 0 if all(state.status in ("sent", "acknowledged") for state in states) else 1


def cmd_file_records(ctx: AppContext, args: argparse.Namespace) -> None:
    """The records service: long-running (SIGTERM or SIGINT stops it after the filing in hand), or --once."""
    stop = threading.Event()
    runner = FilingRunner(ctx, record_filers(ctx.settings))
    if args.once:
        print(json.dumps(vars(runner.run_cycle(stop)), sort_keys=True))
        return

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    runner.run_forever(stop)


SCHEMA_COMMANDS = {"init", "migrate"}
SERVICES = {"deliver-notifications": "notifications", "file-records": "records"}


def whole_number_argument(raw: str) -> int:
    """argparse's `type=int` would take '-5', ' 7' and '٧'; an operator's count is digits 0-9."""
    value = whole_number(raw.strip(), max_digits=9)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a whole number (digits 0-9), got {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    add("init", cmd_init, "prepare var/ (keys, storage, database) for the embedded mode")
    add("migrate", cmd_migrate, "bring the database schema up to date")

    user = add("create-user", cmd_create_user, "create a staff account and print its one-time enrollment link")
    user.add_argument("--username", required=True)
    user.add_argument("--name", required=True, help="display name, e.g. 'Dr Ada Jones'")
    user.add_argument("--role", required=True, choices=["clinician", "manager", "admin"])
    user.add_argument("--team", help="team or department, e.g. 'Dermatology'")
    user.add_argument("--email")

    enc = add("create-encounter", cmd_create_encounter, "register a patient request and print the patient link")
    enc.add_argument("--clinician", required=True, help="username of the requesting clinician")
    enc.add_argument("--name", required=True, help="patient's full name")
    enc.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    enc.add_argument("--nhs-number")
    enc.add_argument("--phone", help="UK mobile number")
    enc.add_argument("--email")
    enc.add_argument("--note", help="what to photograph or film, shown to the patient")
    enc.add_argument("--body-site", help="where the photos are of, e.g. 'left forearm' (filed to the record)")
    enc.add_argument(
        "--lifetime-hours",
        type=whole_number_argument,
        help="how long the link works (default MIA_INVITE_LIFETIME_HOURS)",
    )

    rotate = add("rotate-keys", cmd_rotate_keys, "re-encrypt every patient field under a new key")
    rotate.add_argument("--retire", action="store_true", help="then drop keys no value uses (key file only)")

    purge = add("purge-expired", cmd_purge_expired, "abort abandoned uploads, drop expired sessions and dead links")
    purge.add_argument(
        "--every", type=whole_number_argument, metavar="SECONDS", help="keep running, purging every SECONDS"
    )
    deliver = add(
        "deliver-notifications",
        cmd_deliver_notifications,
        "send queued texts and email through GOV.UK Notify or SMTP (the notifications service)",
    )
    deliver.add_argument("--once", action="store_true", help="send what is due now, then exit")

    to_record = add(
        "file-to-record",
        cmd_file_to_record,
        "file a reviewed request's photos and videos to the patient record now (exit 1 unless every one is filed)",
    )
    to_record.add_argument("--encounter", required=True, help="the request's id")
    to_record.add_argument(
        "--destination",
        action="append",
        choices=list(DESTINATIONS),
        help="only this destination (repeatable; default: every configured one)",
    )
    to_record.add_argument("--by", metavar="USERNAME", help="the member of staff the audit log names")
    records = add("file-records", cmd_file_records, "file queued requests to the patient record (the records service)")
    records.add_argument("--once", action="store_true", help="file what is due now, then exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        service = SERVICES.get(args.command, "manage")
        configure_logging(settings.log_level, service=service, cookie_names=[settings.portal_cookie_name])
        ctx = build_context(settings)
        try:
            if args.command not in SCHEMA_COMMANDS and not is_up_to_date(ctx.engine):
                raise CommandError("the database schema is not up to date; run: python manage.py migrate")
            status = args.handler(ctx, args)
        finally:
            ctx.close()
    except (ConfigError, InvalidIdentifier, UserError, EncounterError, CommandError, StorageError, RecordsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"error: database: {reason}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
