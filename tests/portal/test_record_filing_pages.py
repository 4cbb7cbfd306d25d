"""Filing to the patient record from the portal (AppTest), with filings made by the real services and runner.

The destination is the loopback FHIR server (transaction semantics, faults
on demand) reached by the real FHIR filer; the runner is the one the records
service runs. A colleague in the requesting clinician's team does the
reviewing, as in clinic.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from shared import audit
from shared.clock import utcnow
from shared.context import Actor, AppContext
from shared.db.tables import encounters, media
from shared.encounters.requests import decrypt_body_site
from shared.records.fhir import file_fhir
from shared.records.filings import filing_states, request_filing
from shared.records.runner import FilingRunner
from shared.staff.teams import all_teams, save_team_settings
from tests.support.fhir_server import Fault, FhirServer
from tests.support.portal import Downloads, open_page, sign_in, texts, widget
from tests.support.records import BODY_SITE, NO_NHS_NUMBER, reviewed_encounter
from tests.support.staff import make_staff


def file_now(ctx: AppContext) -> None:
    """One cycle of the records service, filing to FHIR."""
    FilingRunner(ctx, {"fhir": file_fhir}).run_cycle()


def states_table(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    table = next(d.value for d in at.dataframe if "Destination" in d.value.columns)
    return dict(zip(table["Destination"], table["State"], strict=True))


def timeline_steps(at) -> list[str]:  # type: ignore[no-untyped-def]
    return list(next(d.value for d in at.dataframe if "Step" in d.value.columns)["Step"])


def test_without_a_destination_the_page_says_why_and_offers_no_button(portal: AppContext) -> None:
    reviewed = reviewed_encounter(portal)
    at = open_page(sign_in(make_staff(portal, "drsmith")), "review", encounter=reviewed.encounter_id)
    assert "No record destination is configured (set MIA_DICOMWEB_URL" in texts(at)
    assert "File to record" not in [button.label for button in at.button]


def test_file_to_record_after_review_queues_each_destination(
    records_portal: AppContext,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("MIA_DICOMWEB_URL", "http://127.0.0.1:9/dicom-web")  # on, never reached in this test
    waiting = reviewed_encounter(records_portal, review=False)
    at = open_page(sign_in(make_staff(records_portal, "drsmith")), "review", encounter=waiting.encounter_id)
    assert "File to record" not in [button.label for button in at.button]  # not reviewed: the reason instead
    assert "reviewed" in next(info.value for info in at.info if "record" in info.value.lower())

    widget(at.text_area, "Clinical note").input("Eczema; emollient.")
    widget(at.button, "Mark as reviewed").click().run()
    assert "Files every photo and video of this request to: PACS (DICOM), FHIR record." in texts(at)
    widget(at.button, "File to record").click().run()
    assert not at.exception, at.exception
    assert "Queued for filing to PACS (DICOM), FHIR record." in texts(at)
    states = states_table(at)
    assert list(states) == ["PACS (DICOM)", "FHIR record"]
    assert all(state.startswith("Queued at ") for state in states.values())
    assert "Filing to FHIR record asked for" in timeline_steps(at)
    with records_portal.engine.connect() as conn:
        requested = audit.search(conn, action="records.filing_requested", encounter_id=waiting.encounter_id)
    assert len(requested) == 2 and {event["actor_type"] for event in requested} == {"user"}


def test_a_failed_filing_shows_its_reason_and_retry_files_it(
    records_portal: AppContext, fhir_server: FhirServer
) -> None:
    reviewed = reviewed_encounter(records_portal)
    request_filing(records_portal, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow())
    fhir_server.fail_next(Fault(status=503))
    file_now(records_portal)  # one try allowed: failed, with the reason
    account = make_staff(records_portal, "drsmith")
    at = open_page(sign_in(account), "review", encounter=reviewed.encounter_id)
    (failed,) = [error.value for error in at.error if error.value.startswith("Not filed to FHIR record:")]
    assert "could not be reached after 1 tries" in failed and "503" in failed
    assert states_table(at)["FHIR record"].startswith("Failed at ")
    assert any(step.startswith("Filing to FHIR record failed: ") for step in timeline_steps(at))

    widget(at.button, "Retry").click().run()
    assert "Filing to FHIR record is queued again." in texts(at)
    assert states_table(at)["FHIR record"].startswith("Queued at ")
    assert "Retry" not in [button.label for button in at.button]
    with records_portal.engine.connect() as conn:
        (retried,) = audit.search(conn, action="records.filing_retried", encounter_id=reviewed.encounter_id)
    assert retried["actor_id"] == account.user_id

    file_now(records_portal)
    at.run()
    assert states_table(at)["FHIR record"].startswith("Filed at ")
    assert ", acknowledged at " in states_table(at)["FHIR record"]
    steps = timeline_steps(at)
    assert steps.index("Reviewed") < steps.index("Filed to FHIR record") <= steps.index("Acknowledged by FHIR record")
    assert len(fhir_server.documents()) == 2  # one DocumentReference per photo


def test_deleting_what_was_filed_says_the_copy_in_the_record_remains(records_portal: AppContext) -> None:
    reviewed = reviewed_encounter(records_portal)
    request_filing(records_portal, reviewed.encounter_id, actor=Actor(reviewed.clinician_id), now=utcnow())
    file_now(records_portal)
    (filed,) = filing_states(records_portal, reviewed.encounter_id)
    assert filed.status == "acknowledged"
    at = open_page(sign_in(make_staff(records_portal, "drsmith")), "review", encounter=reviewed.encounter_id)
    warnings = [warning.value for warning in at.warning]
    assert any(
        w.startswith("Photo 1 has been filed to the patient record: FHIR record at ")
        and "must be withdrawn in FHIR record" in w
        for w in warnings
    )
    assert any(w.startswith("This request has been filed to the patient record") for w in warnings)

    widget(at.text_input, "Reason for deleting this file").input("Photo of the wrong arm")
    widget(at.button, "Delete this file").click().run()
    assert "Photo 1 was deleted here, but not from the patient record: the copy filed to FHIR record at " in texts(at)
    with records_portal.engine.connect() as conn:
        deleted = conn.execute(select(media.c.id).where(media.c.deleted_at.is_not(None))).scalars().all()
    assert deleted == [reviewed.media_ids[0]]

    widget(at.text_input, "Reason for deleting the encounter").input("Wrong patient")
    widget(at.button, "Delete encounter").click().run()
    assert texts(at).splitlines()[0] == "Encounters"
    assert "The request was deleted here, but not from the patient record" in texts(at)


def test_a_request_never_filed_is_deleted_without_a_record_warning(records_portal: AppContext) -> None:
    reviewed = reviewed_encounter(records_portal)
    at = open_page(sign_in(make_staff(records_portal, "drsmith")), "review", encounter=reviewed.encounter_id)
    assert not [w.value for w in at.warning if "patient record" in w.value]
    widget(at.text_input, "Reason for deleting this file").input("Blurred")
    widget(at.button, "Delete this file").click().run()
    assert "not from the patient record" not in texts(at)


def test_the_fhir_bundle_download_is_the_transaction_bundle_and_is_audited(
    portal: AppContext, downloads: Downloads
) -> None:
    reviewed = reviewed_encounter(portal)
    account = make_staff(portal, "drsmith")
    at = open_page(sign_in(account), "review", encounter=reviewed.encounter_id)
    button = widget(at.get("download_button"), "Download FHIR bundle")
    with portal.engine.connect() as conn:
        assert not audit.search(conn, action="records.bundle_downloaded")  # built only when pressed

    download = downloads.press(button)

    assert download.filename == f"mia-{reviewed.encounter_id[:8].upper()}-fhir-bundle.json"
    assert download.mimetype == "application/fhir+json"
    bundle = json.loads(download.content)

    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "transaction")
    references = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert len(references) == 2
    assert {r["content"][0]["attachment"]["contentType"] for r in references} == {"image/jpeg"}
    assert references[0]["subject"]["identifier"]["value"] == "9434765919"
    with portal.engine.connect() as conn:
        (event,) = audit.search(conn, action="records.bundle_downloaded", encounter_id=reviewed.encounter_id)
    assert event["actor_id"] == account.user_id
    assert json.loads(event["detail"])["documents"] == 2 and "9434765919" not in event["detail"]


def test_no_bundle_download_before_review(portal: AppContext) -> None:
    waiting = reviewed_encounter(portal, review=False)
    at = open_page(sign_in(make_staff(portal, "drsmith")), "review", encounter=waiting.encounter_id)
    assert "Download FHIR bundle" not in [button.label for button in at.get("download_button")]


def test_team_filing_switches_are_saved(portal: AppContext) -> None:
    admin = make_staff(portal, "admin1", role="admin", team=None)
    make_staff(portal, "drjones", team="Dermatology")
    at = open_page(sign_in(admin), "teams")
    (row,) = at.dataframe[0].value.to_dict("records")
    assert (row["Files when reviewed"], row["Local identifier allowed"]) == ("No", "No")

    widget(at.toggle, "File to the record automatically when marked as reviewed").set_value(True)
    widget(at.toggle, "Allow filing under a local identifier when there is no NHS number").set_value(True)
    widget(at.button, "Save team settings").click().run()
    assert "Saved the settings of Dermatology." in texts(at)
    (row,) = at.dataframe[0].value.to_dict("records")
    assert (row["Files when reviewed"], row["Local identifier allowed"]) == ("Yes", "Yes")
    (team,) = all_teams(portal)
    assert team.file_on_review and team.allow_local_identifier

    widget(at.toggle, "Allow filing under a local identifier when there is no NHS number").set_value(False)
    widget(at.button, "Save team settings").click().run()
    (team,) = all_teams(portal)
    assert team.file_on_review and not team.allow_local_identifier
    with portal.engine.connect() as conn:
        changes = audit.search(conn, action="team.settings_changed")
    assert json.loads(changes[0]["detail"])["allow_local_identifier"] is False


def test_a_new_request_stores_the_body_site(portal: AppContext) -> None:
    at = open_page(sign_in(make_staff(portal, "drjones")), "register")
    widget(at.text_input, "Full name").input("Jane Doe")
    at.date_input[0].set_value(dt.date(1980, 4, 23))
    widget(at.text_input, "UK mobile number").input("07700 900123")
    widget(at.text_input, "Body site (optional)").input("left\tforearm")
    widget(at.button, "Create request and link").click().run()
    assert "body site" in texts(at).lower() and "Request created" not in texts(at)
    with portal.engine.connect() as conn:
        assert conn.execute(select(encounters.c.id)).first() is None

    widget(at.text_input, "Body site (optional)").input(f"  {BODY_SITE} ")
    widget(at.button, "Create request and link").click().run()
    assert "Request created" in texts(at)
    with portal.engine.connect() as conn:
        (row,) = conn.execute(select(encounters)).all()
    assert BODY_SITE.encode() not in bytes(row.body_site)  # encrypted at rest
    assert decrypt_body_site(portal.cipher, row) == BODY_SITE
    widget(at.button, "Open this encounter").click().run()
    assert f"**Body site:** {BODY_SITE}" in [m.value for m in at.markdown]


def test_a_team_that_files_on_review_sees_the_request_queued_by_the_records_service(
    records_portal: AppContext, fhir_server: FhirServer
) -> None:
    admin = make_staff(records_portal, "admin1", role="admin", team=None)
    save_team_settings(
        records_portal,
        "Dermatology",
        organisation_name=None,
        mailbox=None,
        actor=Actor(admin.user_id),
        file_on_review=True,
    )
    reviewed = reviewed_encounter(records_portal)
    at = open_page(sign_in(make_staff(records_portal, "drsmith")), "review", encounter=reviewed.encounter_id)
    assert "Your team files reviewed requests automatically" in texts(at)

    file_now(records_portal)  # the records service's cycle queues it, then files it
    at.run()
    assert states_table(at)["FHIR record"].startswith("Filed at ")
    assert "Your team files reviewed requests automatically" not in texts(at)
    with records_portal.engine.connect() as conn:
        (requested,) = audit.search(conn, action="records.filing_requested", encounter_id=reviewed.encounter_id)
    assert requested["actor_type"] == "system"


def test_a_patient_without_an_nhs_number_gets_the_reason_not_the_button(records_portal: AppContext) -> None:
    reviewed = reviewed_encounter(records_portal, patient=NO_NHS_NUMBER)
    at = open_page(sign_in(make_staff(records_portal, "drsmith")), "review", encounter=reviewed.encounter_id)
    assert "File to record" not in [button.label for button in at.button]
    assert any("NHS number" in info.value and "local identifier" in info.value for info in at.info)
