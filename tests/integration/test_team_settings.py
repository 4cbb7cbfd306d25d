"""Team settings an administrator saves, checked before they are kept, and the name a team's patients see."""

from __future__ import annotations

import json

import pytest

from shared import audit
from shared.context import Actor, AppContext
from shared.staff.teams import TeamSettingsError, organisation_name, save_team_settings, team_mailbox
from tests.support.factories import make_clinician


def test_a_team_override_replaces_the_default_name_and_blank_restores_it(ctx: AppContext) -> None:
    admin = Actor(make_clinician(ctx, "admin1"), "198.51.100.3")
    default = ctx.settings.messaging.organisation_name
    with ctx.engine.connect() as conn:
        assert organisation_name(conn, ctx, "Dermatology") == default
        assert organisation_name(conn, ctx, None) == default
    save_team_settings(
        ctx, "Dermatology", organisation_name="  Leeds   Dermatology ", mailbox=" Derm@NHS.net ", actor=admin
    )
    with ctx.engine.connect() as conn:
        assert organisation_name(conn, ctx, "Dermatology") == "Leeds Dermatology"
        assert organisation_name(conn, ctx, "Neurology") == default
        assert team_mailbox(conn, "Dermatology") == "Derm@nhs.net"
    save_team_settings(ctx, "Dermatology", organisation_name="", mailbox="", actor=admin)
    with ctx.engine.connect() as conn:
        assert organisation_name(conn, ctx, "Dermatology") == default
        assert team_mailbox(conn, "Dermatology") is None
        events = audit.search(conn, action="team.settings_changed")
    assert [json.loads(e["detail"])["mailbox_set"] for e in events] == [False, True]  # newest first
    assert all(e["remote_addr"] == "198.51.100.3" and "nhs.net" not in e["detail"].lower() for e in events)


@pytest.mark.parametrize(
    ("team", "name", "mailbox", "says"),
    [
        ("Dermatology", "x" * 61, "", "too long (61 characters; at most 60"),
        ("Dermatology", "", "not an address", "The team mailbox: Enter an email address"),
        ("   ", "Leeds", "", "Name the team"),
    ],
)
def test_settings_that_cannot_be_kept_are_refused_with_what_to_fix(
    ctx: AppContext, team: str, name: str, mailbox: str, says: str
) -> None:
    admin = Actor(make_clinician(ctx, "admin1"))
    with pytest.raises(TeamSettingsError, match=says.replace("(", r"\(")):
        save_team_settings(ctx, team, organisation_name=name, mailbox=mailbox, actor=admin)
    with ctx.engine.connect() as conn:
        assert not audit.search(conn, action="team.settings_changed")


def test_filing_rules_are_kept_until_changed_and_audited(ctx: AppContext) -> None:
    from shared.staff.teams import team_settings

    admin = Actor(make_clinician(ctx, "admin1"))
    saved = save_team_settings(ctx, "Dermatology", organisation_name="", mailbox="", actor=admin)
    assert (saved.file_on_review, saved.allow_local_identifier) == (False, False)
    save_team_settings(
        ctx,
        "Dermatology",
        organisation_name="",
        mailbox="",
        actor=admin,
        file_on_review=True,
        allow_local_identifier=True,
    )
    kept = save_team_settings(ctx, "Dermatology", organisation_name="Leeds", mailbox="", actor=admin)
    assert (kept.file_on_review, kept.allow_local_identifier) == (True, True)
    save_team_settings(ctx, "Dermatology", organisation_name="Leeds", mailbox="", actor=admin, file_on_review=False)
    with ctx.engine.connect() as conn:
        stored = team_settings(conn, "Dermatology")
        events = audit.search(conn, action="team.settings_changed")
    assert stored is not None and (stored.file_on_review, stored.allow_local_identifier) == (False, True)
    details = [json.loads(event["detail"]) for event in reversed(events)]
    assert [(d["file_on_review"], d["allow_local_identifier"]) for d in details] == [
        (False, False),
        (True, True),
        (True, True),
        (False, True),
    ]
