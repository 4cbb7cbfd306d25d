"""What the portal says about the link and the messages that carried it, and what a clinician can do (AppTest).

Messages are put in the states the dispatcher and delivery receipts leave
them by updating their rows (tests/support/message_states.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from portal_ui.formatting import plain
from shared import audit
from shared.context import AppContext
from shared.db.tables import encounters, notifications
from shared.encounters.queries import Viewer, submission_counts
from shared.notifications.outbox import CHANNEL_EMAIL, CHANNEL_SMS
from tests.support.factories import make_encounter
from tests.support.message_states import fail_latest, mark_delivered, message_ids
from tests.support.portal import open_page, sign_in, texts, widget
from tests.support.staff import make_staff

NOT_A_MOBILE = "This number can't receive texts. Check it with the patient, or send the link by email."


def register(at, phone: str = "07700 900123", email: str = "") -> None:  # type: ignore[no-untyped-def]
    open_page(at, "register")
    widget(at.text_input, "Full name").input("Jane Doe")
    at.date_input[0].set_value(dt.date(1980, 4, 23))
    widget(at.text_input, "UK mobile number").input(phone)
    widget(at.text_input, "Email address").input(email)
    widget(at.button, "Create request and link").click().run()


def link_shown_at(ctx: AppContext) -> dt.datetime | None:
    with ctx.engine.connect() as conn:
        return conn.execute(select(encounters.c.link_shown_at)).scalar_one()


def messages_table(at):  # type: ignore[no-untyped-def]
    return next(d.value for d in at.dataframe if "How" in d.value.columns)


def test_new_request_with_nothing_configured_says_the_link_was_not_sent_and_shows_it(
    sqlite_portal: AppContext,
) -> None:
    account = make_staff(sqlite_portal, "drjones")
    at = sign_in(account)
    open_page(at, "register")
    assert "No text message or email service is set up on this system" in texts(at)
    register(at, phone="020 7946 0000")
    assert "This number can't receive texts" in texts(at)  # a landline, refused at registration
    widget(at.text_input, "UK mobile number").input("+33 6 12 34 56 78")
    widget(at.button, "Create request and link").click().run()
    assert "Only UK mobile numbers" in texts(at)
    widget(at.text_input, "UK mobile number").input("07700 900123")
    widget(at.button, "Create request and link").click().run()
    page = texts(at)
    assert "The link was not sent: no text message or email service is configured" in page
    assert "Hand it over now" in page and "on its way" not in page
    (link,) = [c.value for c in at.code]
    assert link.startswith(f"{sqlite_portal.settings.patient_base_url}/p/") and len(at.get("image")) == 1
    table = messages_table(at)
    assert list(table["How"]) == ["Text message"] and list(table["To"]) == ["+447700900123"]
    assert list(table["State"]) == ["Not sent: no text message service is set up"]
    assert link_shown_at(sqlite_portal) is not None  # the timeline says "shown", never "sent"
    at.run()
    with sqlite_portal.engine.connect() as conn:
        assert len(audit.search(conn, action="invite.shown")) == 1  # once, not once per rerun
    widget(at.button, "Open this encounter").click().run()
    (timeline,) = [d.value for d in at.dataframe if "Step" in d.value.columns]
    assert "Link shown in the portal (link or QR code)" in list(timeline["Step"])
    assert not any("sent" in step for step in timeline["Step"])


def test_new_request_with_services_set_up_queues_the_link_and_shows_it_on_request(
    configured_portal: AppContext,
) -> None:
    account = make_staff(configured_portal, "drjones")
    at = sign_in(account)
    open_page(at, "register")
    assert "No text message or email service" not in texts(at)
    register(at, email="jane.doe@example.org")
    assert "The link is on its way to the patient by email and text message" in texts(at)
    assert not at.code and link_shown_at(configured_portal) is None
    states = messages_table(at)["State"]
    assert len(states) == 2 and all(state.startswith("Queued at ") for state in states)
    widget(at.button, "Show the link and QR code to hand over").click().run()
    assert len(at.code) == 1 and link_shown_at(configured_portal) is not None


def test_the_encounter_list_shows_each_message_and_the_requester_their_badge(configured_portal: AppContext) -> None:
    ctx = configured_portal
    jones = make_staff(ctx, "drjones")
    smith = make_staff(ctx, "drsmith")
    invite = make_encounter(ctx, jones.user_id)
    (sms_id,) = message_ids(ctx, invite.encounter_id, CHANNEL_SMS)
    mark_delivered(ctx, sms_id)
    fail_latest(ctx, invite.encounter_id, CHANNEL_EMAIL, "The email address does not exist.")

    at = sign_in(jones)
    assert "1 request of yours has a link that could not be delivered" in texts(at)
    assert any("could not be delivered" in w.value for w in at.sidebar.warning)  # the sidebar badge
    (cell,) = at.dataframe[0].value["Messages to the patient"]
    assert cell.startswith("⚠ Needs you · Text delivered ")
    assert "Email failed " in cell and cell.endswith(": The email address does not exist.")

    other = sign_in(smith)
    other.radio[0].set_value("team").run()
    (cell,) = other.dataframe[0].value["Messages to the patient"]
    assert not cell.startswith("⚠") and "Email failed" in cell  # the state, but not their badge
    assert not other.sidebar.warning


def test_the_requester_opening_the_request_clears_the_badge_and_sees_why(configured_portal: AppContext) -> None:
    ctx = configured_portal
    jones = make_staff(ctx, "drjones")
    invite = make_encounter(ctx, jones.user_id)
    mark_delivered(ctx, message_ids(ctx, invite.encounter_id, CHANNEL_EMAIL)[0])
    fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)
    at = sign_in(jones)
    open_page(at, "review", encounter=invite.encounter_id)
    assert submission_counts(ctx, Viewer(jones.user_id, "Dermatology")).invites_failed == 0
    assert not at.sidebar.warning  # gone at once (the page drew the sidebar again)
    states = dict(zip(messages_table(at)["How"], messages_table(at)["State"], strict=True))
    assert states["Text message"].endswith(f": {NOT_A_MOBILE}") and states["Email"].startswith("Delivered at ")
    explained = plain(f"The text message to +447700900123 was not delivered: {NOT_A_MOBILE}")  # drawn literally
    assert explained in [e.value for e in at.error]
    (timeline,) = [d.value for d in at.dataframe if "Step" in d.value.columns]
    steps = list(timeline["Step"])
    assert "Link delivered by email" in steps and f"Link not delivered by text message: {NOT_A_MOBILE}" in steps
    assert "Link sent by email" in steps and "Link sent by text message" not in steps  # the failed one never went
    with ctx.engine.connect() as conn:
        assert audit.search(conn, action="invite.failure_seen", encounter_id=invite.encounter_id)


def test_send_again_by_email_instead_and_the_reminders_switch(configured_portal: AppContext) -> None:
    ctx = configured_portal
    jones = make_staff(ctx, "drjones")
    smith = make_staff(ctx, "drsmith")
    invite = make_encounter(ctx, jones.user_id)
    fail_latest(ctx, invite.encounter_id, CHANNEL_SMS, NOT_A_MOBILE)
    at = sign_in(smith)  # a colleague acts on it: the requester's badge goes too
    open_page(at, "review", encounter=invite.encounter_id)
    assert submission_counts(ctx, Viewer(jones.user_id, "Dermatology")).invites_failed == 1
    assert widget(at.text_input, "Patient's email address").value == "zebedee.q@example.org"  # on record

    widget(at.button, "Send the link again").click().run()
    assert "The same link has been queued again to the patient." in texts(at)
    assert len(messages_table(at)) == 4  # text and email, twice
    assert submission_counts(ctx, Viewer(jones.user_id, "Dermatology")).invites_failed == 0

    widget(at.text_input, "Patient's email address").input("zebedee@")
    widget(at.button, "Send the link by email").click().run()
    assert "Enter an email address such as name@example.com." in texts(at)
    widget(at.text_input, "Patient's email address").input("z.quartermain@example.org")
    widget(at.button, "Send the link by email").click().run()
    assert "The link has been queued by email." in texts(at)
    newest = messages_table(at).iloc[0]
    assert (newest["How"], newest["To"]) == ("Email", "z.quartermain@example.org")

    toggle = widget(at.toggle, "Remind the patient if they have not sent anything")
    assert toggle.value is True
    toggle.set_value(False).run()
    with ctx.engine.connect() as conn:
        assert conn.execute(select(encounters.c.reminders_enabled)).scalar_one() is False
        actions = {e["action"] for e in audit.search(conn, encounter_id=invite.encounter_id)}
        emails = conn.execute(select(notifications.c.id).where(notifications.c.channel == CHANNEL_EMAIL)).all()
    assert {"invite.resent", "invite.sent_by_email", "reminders.switched_off"} <= actions
    assert len(emails) == 3
    widget(at.toggle, "Remind the patient if they have not sent anything").set_value(True).run()
    with ctx.engine.connect() as conn:
        assert conn.execute(select(encounters.c.reminders_enabled)).scalar_one() is True
        assert audit.search(conn, action="reminders.switched_on", encounter_id=invite.encounter_id)


def test_send_by_email_is_not_offered_without_an_email_service(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    invite = make_encounter(sqlite_portal, account.user_id)
    at = sign_in(account)
    open_page(at, "review", encounter=invite.encounter_id)
    assert "No email service is set up, so the link cannot be emailed from here." in texts(at)
    assert "No reminder can go: no text message or email service is set up." in texts(at)
    assert not [t for t in at.text_input if t.label == "Patient's email address"]


def test_a_patient_without_phone_or_email_gets_the_link_in_clinic(configured_portal: AppContext) -> None:
    account = make_staff(configured_portal, "drjones")
    at = sign_in(account)
    register(at, phone="")
    assert "Enter a UK mobile number or an email address, or tick the in-clinic box." in texts(at)
    widget(at.checkbox, "No phone or email: I will hand the link over in clinic (QR code)").check()
    widget(at.checkbox, "Remind the patient if they have not sent anything").uncheck()
    widget(at.button, "Create request and link").click().run()
    assert "Request created. Hand it over now" in texts(at) and len(at.code) == 1
    assert list(messages_table(at)["State"]) == ["Not sent: the link is handed over in clinic (link or QR code)"]
    with configured_portal.engine.connect() as conn:
        row = conn.execute(select(encounters.c.link_shown_at, encounters.c.reminders_enabled)).one()
    assert row.link_shown_at is not None and row.reminders_enabled is False
