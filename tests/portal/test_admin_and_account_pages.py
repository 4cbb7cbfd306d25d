"""Administrators' pages (users, audit log) and everyone's account page, through AppTest."""

from __future__ import annotations

from sqlalchemy import select

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.tables import users
from shared.staff import authentication
from shared.staff.passwords import check_password
from shared.staff.teams import team_mailbox
from tests.support.portal import open_page, sign_in, texts, widget
from tests.support.staff import make_staff


def user_row(ctx: AppContext, username: str):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return conn.execute(select(users).where(users.c.username == username)).one()


def choose_user(at, username: str) -> None:  # type: ignore[no-untyped-def]
    box = widget(at.selectbox, "User")
    (option,) = [value for value in box.options if f"({username}," in value]
    box.select(option).run()


def test_users_page_creates_disables_resets_and_unlocks_accounts(portal: AppContext) -> None:
    admin = make_staff(portal, "admin1", role="admin", team=None)
    clinician = make_staff(portal, "drjones")
    at = sign_in(admin)
    table = at.dataframe[0].value
    assert set(table["Username"]) == {"admin1", "drjones"}

    widget(at.text_input, "Username").input("nurse.kaur")
    widget(at.text_input, "Full name, as colleagues know it").input("Sister Priya Kaur")
    widget(at.text_input, "Team or department").input("Dermatology")
    widget(at.button, "Create user and set-up link").click().run()
    (link,) = [c.value for c in at.code]
    assert link.startswith(f"{portal.settings.portal_base_url}/?enroll=") and len(at.get("image")) == 1
    assert user_row(portal, "nurse.kaur").status == "pending"
    widget(at.button, "Done").click().run()

    widget(at.text_input, "Username").input("drjones")
    widget(at.text_input, "Full name, as colleagues know it").input("Another Jones")
    widget(at.button, "Create user and set-up link").click().run()
    assert "already taken" in texts(at)

    choose_user(at, "drjones")
    widget(at.button, "Disable").click().run()
    assert user_row(portal, "drjones").status == "disabled"
    choose_user(at, "drjones")
    widget(at.button, "Enable").click().run()
    assert user_row(portal, "drjones").status == "active"

    for _ in range(authentication.MAX_FAILURES):
        authentication.record_failure(portal, clinician.user_id, factor="totp", reason="wrong_code", now=utcnow())
    at.run()
    choose_user(at, "drjones")
    widget(at.button, "Lift sign-in pause").click().run()
    assert user_row(portal, "drjones").failed_attempts == 0

    choose_user(at, "drjones")
    widget(at.button, "Reset password and authenticator").click().run()
    row = user_row(portal, "drjones")
    assert row.status == "pending" and row.password_hash is None and row.totp_secret is None
    assert any(c.value.startswith(f"{portal.settings.portal_base_url}/?enroll=") for c in at.code)

    choose_user(at, "admin1")
    widget(at.button, "Disable").click().run()
    assert "cannot disable your own account" in texts(at)


def test_audit_page_browses_and_filters_events(sqlite_portal: AppContext) -> None:
    admin = make_staff(sqlite_portal, "admin1", role="admin", team=None)
    clinician = make_staff(sqlite_portal, "drjones")
    sign_in(clinician)
    at = sign_in(admin)
    open_page(at, "audit")
    events = at.dataframe[0].value
    assert {"auth.signed_in", "user.enrolled", "user.created"} <= set(events["Action"])
    widget(at.selectbox, "Action").select("auth.signed_in").run()
    events = at.dataframe[0].value
    assert set(events["Action"]) == {"auth.signed_in"} and set(events["Who"]) == {"admin1", "drjones"}
    who = widget(at.selectbox, "Who")
    who.set_value(clinician.user_id).run()
    assert list(at.dataframe[0].value["Who"]) == ["drjones"]
    assert len(at.get("download_button")) == 1  # the rows shown, as CSV
    widget(at.text_input, "Encounter id").input("no-such-encounter").run()
    assert "No events match" in texts(at)


def test_account_page_changes_the_password_and_signs_out_everywhere(portal: AppContext) -> None:
    manager = make_staff(portal, "manager1", role="manager", team=None)
    at = open_page(sign_in(manager), "account")
    page = texts(at)
    assert "My account" in page and "manager1" in page and "auth.signed_in" in set(at.dataframe[0].value["What"])
    widget(at.text_input, "Current password").input("not my password")
    widget(at.text_input, "New password").input("walnut tractor velvet")
    widget(at.text_input, "New password again").input("walnut tractor velvet")
    widget(at.button, "Change password").click().run()
    assert "current password is not right" in texts(at)
    widget(at.text_input, "Current password").input(manager.password)
    widget(at.text_input, "New password").input("manager1 password")
    widget(at.text_input, "New password again").input("manager1 password")
    widget(at.button, "Change password").click().run()
    assert "username or your name" in texts(at)
    widget(at.text_input, "Current password").input(manager.password)
    widget(at.text_input, "New password").input("walnut tractor velvet")
    widget(at.text_input, "New password again").input("walnut tractor velvet")
    widget(at.button, "Change password").click().run()
    assert "Password changed" in texts(at) and widget(at.text_input, "Username")  # signed out: the sign-in form
    assert "mia_session" not in at.session_state
    assert check_password("walnut tractor velvet", user_row(portal, "manager1").password_hash)


def test_teams_page_sets_a_teams_organisation_name_and_mailbox(portal: AppContext) -> None:
    admin = make_staff(portal, "admin1", role="admin", team=None)
    make_staff(portal, "drjones", team="Dermatology")
    at = open_page(sign_in(admin), "teams")
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["Team"] == "Dermatology" and row["Organisation name patients see"] == "Your NHS care team (the default)"

    widget(at.text_input, "Organisation name patients see (blank: the default)").input("Leeds Dermatology")
    widget(at.text_input, "Team mailbox (blank: none)").input("derm team@nhs")
    widget(at.button, "Save team settings").click().run()
    assert "The team mailbox: Enter an email address" in texts(at)
    widget(at.text_input, "Team mailbox (blank: none)").input("Dermatology.MIA@nhs.net")
    widget(at.button, "Save team settings").click().run()
    assert "Saved the settings of Dermatology." in texts(at)
    (row,) = at.dataframe[0].value.to_dict("records")
    assert row["Organisation name patients see"] == "Leeds Dermatology"
    assert row["Team mailbox"] == "Dermatology.MIA@nhs.net"
    with portal.engine.connect() as conn:
        assert team_mailbox(conn, "Dermatology") == "Dermatology.MIA@nhs.net"
        (event,) = audit.search(conn, action="team.settings_changed")
    assert event["actor_id"] == admin.user_id and "nhs.net" not in event["detail"]

    widget(at.selectbox, "Team to change").set_value("").run()  # a team nobody belongs to yet
    widget(at.text_input, "Team name").input("Plastic Surgery")
    widget(at.button, "Save team settings").click().run()
    assert sorted(at.dataframe[0].value["Team"]) == ["Dermatology", "Plastic Surgery"]
