"""The clinician's pages through AppTest: register a request, the encounter list, the review page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from shared import audit
from shared.clock import utcnow
from shared.context import AppContext
from shared.db.tables import encounters, media, notifications
from shared.encounters.requests import decrypt_patient, derived_status
from tests.support.factories import make_encounter
from tests.support.portal import open_page, sign_in, texts, widget
from tests.support.processed_media import store_photo, store_unprocessed
from tests.support.staff import make_staff
from tests.support.submissions import give_consent, submit


def fill_registration(at, **values: str) -> None:  # type: ignore[no-untyped-def]
    labels = {
        "name": "Full name",
        "nhs": "NHS number (optional)",
        "phone": "UK mobile number",
        "email": "Email address",
    }
    for field, text in values.items():
        widget(at.text_input, labels[field]).input(text)


def test_register_a_request_shows_the_link_and_qr_code(portal: AppContext) -> None:
    account = make_staff(portal, "drjones")
    at = sign_in(account)
    open_page(at, "register")
    fill_registration(at, name="Jane Doe", nhs="943 476 5918", phone="07700 900123")
    at.date_input[0].set_value(dt.date(1980, 4, 23))
    widget(at.text_area, "What to photograph or film (the patient sees this)").input("The mole on your back")
    widget(at.button, "Create request and link").click().run()
    assert "check digit" in texts(at)  # a mistyped NHS number, said plainly; nothing saved
    widget(at.text_input, "NHS number (optional)").input("943 476 5919")
    widget(at.text_input, "UK mobile number").input("")
    widget(at.button, "Create request and link").click().run()
    assert "Enter a UK mobile number or an email address" in texts(at)
    widget(at.text_input, "UK mobile number").input("07700 900123")
    widget(at.button, "Create request and link").click().run()
    assert "Request created" in texts(at)
    (link,) = [c.value for c in at.code]
    assert link.startswith(f"{portal.settings.patient_base_url}/p/")
    assert len(at.get("image")) == 1  # QR code for in-clinic hand-over
    with portal.engine.connect() as conn:
        (row,) = conn.execute(select(encounters)).all()
        queued = conn.execute(select(notifications.c.channel).where(notifications.c.encounter_id == row.id)).all()
    patient = decrypt_patient(portal.cipher, row)
    assert (patient.name, patient.date_of_birth, patient.nhs_number) == ("Jane Doe", dt.date(1980, 4, 23), "9434765919")
    assert b"Jane Doe" not in bytes(row.patient_name)
    assert [q.channel for q in queued] == ["sms"]
    widget(at.button, "Open this encounter").click().run()
    assert "Jane Doe" in texts(at) and "Patient link" in texts(at)


def test_encounter_list_scopes_filters_searches_and_counts(portal: AppContext) -> None:
    jones = make_staff(portal, "drjones")
    smith = make_staff(portal, "drsmith")
    brown = make_staff(portal, "drbrown", team="Neurology")
    mine = make_encounter(portal, jones.user_id).encounter_id
    colleague = make_encounter(portal, smith.user_id).encounter_id
    make_encounter(portal, brown.user_id)
    submit(portal, mine, jones.user_id)
    at = sign_in(jones)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "New submissions for you": "1",
        "Waiting for review: mine": "1",
        "Waiting for review: my team": "1",
    }
    (table,) = at.dataframe  # mine by default
    assert list(table.value["Clinician"]) == ["Dr Drjones"]
    at.radio[0].set_value("team").run()
    assert sorted(at.dataframe[0].value["Clinician"]) == ["Dr Drjones", "Dr Drsmith"]
    at.multiselect[0].set_value([derived_status_of(portal, colleague)]).run()
    assert list(at.dataframe[0].value["Clinician"]) == ["Dr Drsmith"]
    at.multiselect[0].set_value([]).run()
    widget(at.text_input, "Find by NHS number").input("943 476 5919").run()
    assert len(at.dataframe[0].value) == 2  # same patient twice in my team; not Neurology's
    at.run()  # showing the same search again is not another search
    with portal.engine.connect() as conn:
        assert len(audit.search(conn, action="encounter.searched", actor_id=jones.user_id)) == 1
    widget(at.text_input, "Find by NHS number").input("1234567890").run()
    assert "not valid" in texts(at)
    widget(at.text_input, "Find by NHS number").input("").run()
    at.selectbox[0].set_value(mine)
    widget(at.button, "Open").click().run()
    assert "Zebedee Quartermain" in texts(at) and "Submitted" in texts(at)


def derived_status_of(ctx: AppContext, encounter_id: str):  # type: ignore[no-untyped-def]
    with ctx.engine.connect() as conn:
        return derived_status(conn.execute(select(encounters).where(encounters.c.id == encounter_id)).one())


def test_review_page_shows_consent_gallery_and_records_the_review(portal: AppContext) -> None:
    account = make_staff(portal, "drjones")
    encounter_id = make_encounter(portal, account.user_id).encounter_id
    give_consent(portal, encounter_id, teaching=False)
    photo = store_photo(portal, encounter_id, width=1200, height=900, note="Worse after [a walk](http://x.example)")
    store_unprocessed(portal, encounter_id, failure_reason="This video could not be read.")
    submit(portal, encounter_id, account.user_id)
    at = sign_in(account)
    open_page(at, "review", encounter=encounter_id)
    page = texts(at)
    assert "Zebedee Quartermain" in page and "NHS number 943 476 5919" in page
    assert f"Request reference {encounter_id[:8].upper()}" in page  # the reference alert emails name
    assert "Photos of the rash on your left forearm" in page
    consent = next(d.value for d in at.dataframe if "Consent text version" in d.value.columns)
    assert list(consent["Use for teaching (de-identified)"]) == ["No"]
    assert list(consent["Share with my care team"]) == ["Yes"]
    (gallery,) = at.get("html")
    html = gallery.proto.body
    assert "aspect-ratio: 1200 / 900" in html and "This video could not be read." in html
    assert f"{portal.settings.patient_base_url}/media/derived/{encounter_id}/{photo.media_id}/thumb.jpg" in html
    assert "Worse after \\[a walk\\]\\(http\\://x\\.example\\)" in page  # shown literally, never as a link
    at.run()  # a rerun re-uses the URLs: no second view event
    with portal.engine.connect() as conn:
        assert len(audit.search(conn, action="encounter.viewed", encounter_id=encounter_id)) == 1
        assert len(audit.search(conn, action="media.viewed", media_id=photo.media_id)) == 1
        unread = conn.execute(select(notifications).where(notifications.c.read_at.is_(None))).all()
    assert [n for n in unread if n.user_id] == []  # opening it read the "files received" notice

    widget(at.button, "Get a download link for the original").click().run()
    (download,) = at.get("link_button")
    assert "/media/uploads/" in download.proto.url and "dl=mia-" in download.proto.url

    widget(at.button, "Delete this file").click().run()
    assert "Enter the reason for deleting" in texts(at)
    widget(at.text_input, "Reason for deleting this file").input("Photo of the wrong arm")
    widget(at.button, "Delete this file").click().run()  # the first file's form
    with portal.engine.connect() as conn:
        deleted = conn.execute(select(media.c.id).where(media.c.deleted_at.is_not(None))).scalars().all()
    assert deleted == [photo.media_id]

    widget(at.text_area, "Clinical note").input("Contact dermatitis; advise emollient.")
    widget(at.button, "Mark as reviewed").click().run()
    assert "Reviewed by Dr Drjones" in texts(at) and "Contact dermatitis" in texts(at)
    with portal.engine.connect() as conn:
        actions = {e["action"] for e in audit.search(conn, encounter_id=encounter_id)}
    assert {"media.original_downloaded", "media.deleted", "encounter.reviewed"} <= actions


def test_review_page_manages_the_link_before_the_patient_sends(portal: AppContext) -> None:
    account = make_staff(portal, "drjones")
    invite = make_encounter(portal, account.user_id)
    at = sign_in(account)
    open_page(at, "review", encounter=invite.encounter_id)
    assert "has not sent anything yet" in texts(at)
    assert not at.code  # the link is shown only when asked for
    widget(at.button, "Show link and QR code").click().run()
    assert [c.value for c in at.code] == [invite.link]
    widget(at.button, "Send the link again").click().run()
    assert "Nothing was sent: no text message or email service is set up" in texts(at)  # nothing pretends
    widget(at.button, "Issue a new link").click().run()
    (new_link,) = [c.value for c in at.code]
    assert new_link != invite.link and "A new link has been issued" in texts(at)
    with portal.engine.begin() as conn:
        conn.execute(update(encounters).where(encounters.c.id == invite.encounter_id).values(locked_at=utcnow()))
    at.run()
    assert "locked after too many wrong dates of birth" in texts(at)
    widget(at.button, "Unlock the link").click().run()
    assert "locked after" not in texts(at)
    with portal.engine.connect() as conn:
        actions = [e["action"] for e in audit.search(conn, encounter_id=invite.encounter_id)]
    assert {"invite.shown", "invite.reissued", "invite.unlocked"} <= set(actions)
    assert "invite.resent" not in actions


def test_review_page_refuses_another_teams_encounter(portal: AppContext) -> None:
    jones = make_staff(portal, "drjones")
    brown = make_staff(portal, "drbrown", team="Neurology")
    theirs = make_encounter(portal, brown.user_id).encounter_id
    at = sign_in(jones)
    open_page(at, "review", encounter=theirs)
    assert "not one you or your team registered" in texts(at)
    assert "Zebedee" not in texts(at) and not at.dataframe
    with portal.engine.connect() as conn:
        assert audit.search(conn, action="encounter.access_refused", actor_id=jones.user_id)


def test_review_queue_lists_submissions_waiting(portal: AppContext) -> None:
    account = make_staff(portal, "drjones")
    encounter_id = make_encounter(portal, account.user_id).encounter_id
    at = sign_in(account)
    open_page(at, "review")
    assert "Nothing is waiting for review" in texts(at)
    submit(portal, encounter_id, account.user_id, at=utcnow() - dt.timedelta(minutes=5))
    at.run()
    assert "1 submission waiting" in texts(at)
    widget(at.button, "Open").click().run()
    assert "Zebedee Quartermain" in texts(at)


def test_deleting_an_encounter_from_its_review_page_returns_to_the_list(sqlite_portal: AppContext) -> None:
    account = make_staff(sqlite_portal, "drjones")
    invite = make_encounter(sqlite_portal, account.user_id)
    at = sign_in(account)
    open_page(at, "review", encounter=invite.encounter_id)
    widget(at.button, "Delete encounter").click().run()
    assert "Enter the reason for deleting" in texts(at)  # the domain error, said on the page
    widget(at.text_input, "Reason for deleting the encounter").input("Registered twice")
    widget(at.button, "Delete encounter").click().run()
    assert texts(at).splitlines()[0] == "Encounters" and "encounter" not in at.query_params
    assert not at.dataframe and "No encounters match" in texts(at)
    with sqlite_portal.engine.connect() as conn:
        assert audit.search(conn, action="encounter.deleted", actor_id=account.user_id)
