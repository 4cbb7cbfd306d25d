"""Every message's words: texts fit two fragments at their longest, and nothing that leaves MIA names the patient."""

from __future__ import annotations

import datetime as dt
import re
import textwrap

import pytest

from shared.config.messaging import MAX_ORGANISATION_NAME, MAX_PATIENT_BASE_URL, NOTIFY_TEMPLATE_VARIABLES
from shared.config.settings import PROJECT_ROOT
from shared.encounters.requests import invite_expiry_text, invite_link
from shared.ids import new_secret_token
from shared.notifications import messages
from shared.notifications.messages import (
    TEMPLATES,
    OutgoingMessage,
    UnknownMessage,
    is_gsm7,
    sms_length,
    sms_organisation,
    sms_value,
)
from tests.support.factories import PATIENT, REQUEST_NOTE

LONGEST_BASE_URL = "https://" + "p" * (MAX_PATIENT_BASE_URL - len("https://"))
LONGEST_LINK = invite_link(LONGEST_BASE_URL, new_secret_token())
# The longest expiry text the encounters package writes, over a year of dates (the longest month name).
LONGEST_EXPIRY = max(
    (invite_expiry_text(dt.datetime(2026, 1, 1) + dt.timedelta(days=day, hours=23)) for day in range(366)), key=len
)
# Organisation names at the limit: plain; the example padded out (an en dash); Welsh (ŵ, ŷ are not
# GSM-7); every character from GSM-7's extension table (two septets each).
LONGEST_ORGANISATIONS = {
    "plain": "L" * MAX_ORGANISATION_NAME,
    "en dash": ("Leeds Teaching Hospitals NHS Trust – Dermatology " + "x" * 60)[:MAX_ORGANISATION_NAME],
    "welsh": ("Bwrdd Iechyd Prifysgol Caerdydd a'r Fro – Ysbyty Gŵyr ŷ " * 2)[:MAX_ORGANISATION_NAME],
    "extension": "€" * MAX_ORGANISATION_NAME,
}
SMS_BUILDERS = {"invite": messages.patient_invite, "reminder": messages.patient_reminder}


# --- counting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("GSM-7", 0, 0)),
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("a" * 306, ("GSM-7", 306, 2)),
        ("a" * 307, ("GSM-7", 307, 3)),
        ("€" * 80, ("GSM-7", 160, 1)),  # two septets each
        ("€" * 81, ("GSM-7", 162, 2)),
        ("a" * 152 + "€" + "a" * 153, ("GSM-7", 307, 3)),  # the escape pair is not split across fragments
        ("é" * 160, ("GSM-7", 160, 1)),  # é is in GSM-7's basic set
        ("ŵ" * 70, ("UCS-2", 70, 1)),
        ("ŵ" + "a" * 70, ("UCS-2", 71, 2)),
        ("a" * 159 + "–", ("UCS-2", 160, 3)),  # one en dash makes all of it UCS-2
        ("a" * 134, ("GSM-7", 134, 1)),
        ("–" + "a" * 133, ("UCS-2", 134, 2)),
        ("–" + "a" * 134, ("UCS-2", 135, 3)),
        ("😀" * 35, ("UCS-2", 70, 1)),  # surrogate pairs: two units each
        ("a" * 66 + "😀" + "a" * 67, ("UCS-2", 135, 3)),  # and never split
    ],
)
def test_sms_length_counts_gsm7_and_ucs2_as_a_phone_network_does(text: str, expected: tuple[str, int, int]) -> None:
    length = sms_length(text)
    assert (length.encoding, length.units, length.fragments) == expected


def test_values_put_into_a_text_are_brought_into_gsm7() -> None:
    assert sms_value("Leeds – “Derm” … ŵŷ") == 'Leeds - "Derm" ... wy'
    assert sms_value("Łódź") == "?odz"  # no plain letter for Ł: a question mark, never UCS-2
    assert is_gsm7(sms_value("".join(chr(code) for code in range(32, 0x3000))))


def test_the_organisation_name_in_a_text_is_cut_at_the_septet_limit() -> None:
    assert sms_organisation("Leeds Teaching Hospitals – Dermatology") == "Leeds Teaching Hospitals - Dermatology"
    cut = sms_organisation("€" * MAX_ORGANISATION_NAME)
    assert sms_length(cut).units == MAX_ORGANISATION_NAME and cut == "€" * (MAX_ORGANISATION_NAME // 2)


# --- every text fits ---------------------------------------------------------------


@pytest.mark.parametrize("organisation", LONGEST_ORGANISATIONS.values(), ids=LONGEST_ORGANISATIONS.keys())
@pytest.mark.parametrize("purpose", SMS_BUILDERS)
def test_every_text_fits_two_fragments_with_the_longest_name_and_link(purpose: str, organisation: str) -> None:
    assert len(organisation) == MAX_ORGANISATION_NAME
    message = SMS_BUILDERS[purpose]("sms", organisation=organisation, link=LONGEST_LINK, expires_text=LONGEST_EXPIRY)
    length = sms_length(message.text)
    assert length.encoding == "GSM-7", message.text
    assert length.fragments <= messages.MAX_SMS_FRAGMENTS, (length, message.text)
    assert LONGEST_LINK in message.text and LONGEST_EXPIRY in message.text


def test_the_link_the_tests_call_longest_is_as_long_as_a_real_one() -> None:
    assert len(LONGEST_LINK) == MAX_PATIENT_BASE_URL + len("/p/") + len(new_secret_token())
    assert len(LONGEST_EXPIRY) == len("30 September 2026 23:00 UTC")


def test_every_template_is_plain_gsm7_apart_from_its_placeholders() -> None:
    for template in TEMPLATES.values():
        if template.channel == "sms":
            assert is_gsm7(template.body), template.key


def test_a_text_with_a_long_welsh_name_would_not_fit_without_downgrading() -> None:
    """Why `sms_value` exists: left as typed, the name makes the text UCS-2 and it needs five fragments."""
    raw = messages.INVITE_SMS.render(
        {"organisation": LONGEST_ORGANISATIONS["welsh"], "link": LONGEST_LINK, "expires": LONGEST_EXPIRY}
    )[1]
    assert sms_length(raw).encoding == "UCS-2" and sms_length(raw).fragments > 2


# --- what the messages say ----------------------------------------------------------


@pytest.mark.parametrize("channel", ["sms", "email"])
@pytest.mark.parametrize("purpose", SMS_BUILDERS)
def test_patient_messages_name_the_organisation_and_nothing_about_the_patient(purpose: str, channel: str) -> None:
    organisation = "Leeds Teaching Hospitals – Dermatology"
    message = SMS_BUILDERS[purpose](channel, organisation=organisation, link=LONGEST_LINK, expires_text=LONGEST_EXPIRY)
    shown = f"{message.subject or ''}\n{message.text}"
    expected_name = organisation if channel == "email" else sms_organisation(organisation)
    assert expected_name in shown and LONGEST_LINK in shown and LONGEST_EXPIRY in shown
    assert message.organisation == expected_name
    for detail in (*PATIENT.name.split(), PATIENT.nhs_number, PATIENT.date_of_birth.isoformat(), REQUEST_NOTE, "rash"):
        assert detail and detail not in shown


def test_email_subjects_name_the_organisation_as_typed() -> None:
    message = messages.patient_invite(
        "email", organisation="Bwrdd Iechyd – Ysbyty Gŵyr", link=LONGEST_LINK, expires_text="1 May 2026 10:00 UTC"
    )
    assert message.subject == "Bwrdd Iechyd – Ysbyty Gŵyr: please send photos or videos to your care team"


@pytest.mark.parametrize(
    "build",
    [
        lambda: messages.clinician_submission(reference="AB12CD34", portal_link="https://portal/review?encounter=x"),
        lambda: messages.clinician_invite_failed(
            reference="AB12CD34", portal_link="https://portal/review?encounter=x", reason="This number can't …"
        ),
        lambda: messages.clinician_processing_failed(
            reference="AB12CD34", portal_link="https://portal/review?encounter=x"
        ),
    ],
    ids=["submission", "invite failed", "processing failed"],
)
def test_clinician_alerts_name_the_reference_and_the_portal_link(build) -> None:  # type: ignore[no-untyped-def]
    message = build()
    assert message.channel == "email" and message.template == "clinician_email"
    assert "AB12CD34" in (message.subject or "") and "AB12CD34" in message.text
    assert "https://portal/review?encounter=x" in message.text
    assert "no patient details" in message.text


def test_the_in_clinic_invite_keeps_the_name_as_typed_and_holds_the_link() -> None:
    words = messages.in_clinic_invite(organisation="Leeds – Derm", link=LONGEST_LINK, expires_text=LONGEST_EXPIRY)
    assert words.startswith("Leeds – Derm: your care team") and LONGEST_LINK in words


# --- stored and read back -------------------------------------------------------------


def test_a_message_is_stored_and_read_back_with_its_rendered_text() -> None:
    message = messages.patient_invite("sms", organisation="Leeds – Derm", link=LONGEST_LINK, expires_text="1 May")
    stored = message.to_json()
    assert LONGEST_LINK in stored and "Leeds - Derm" in stored  # the link is found in the body (invites.py)
    again = OutgoingMessage.from_json(stored)
    assert again == message and again.text == message.text


@pytest.mark.parametrize(
    "body",
    [
        "Your patient has sent 1 photo for the request you made on 1 May 2026.",
        '{"template": "invite_sms"}',
        '{"template": "no_such_thing", "values": {}}',
        '{"template": "invite_sms", "values": {"organisation": "x"}}',
        "[1, 2]",
    ],
)
def test_a_body_that_is_not_a_whole_message_is_refused(body: str) -> None:
    with pytest.raises(UnknownMessage):
        OutgoingMessage.from_json(body)


def test_the_readme_gives_the_notify_templates_in_the_codes_words() -> None:
    """An administrator pastes the README's words into Notify: they must be the words MIA renders for SMTP."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("### Setting up GOV.UK Notify and NHSmail SMTP", 1)[1].split("\n### ", 1)[0]
    blocks = {textwrap.dedent(block).strip() for block in re.findall(r"```text\n(.*?)```", section, flags=re.S)}
    for key, template in TEMPLATES.items():
        assert f"`{NOTIFY_TEMPLATE_VARIABLES[key]}`" in section, key
        if template.subject is not None:
            assert f"subject `{template.subject}`" in " ".join(section.split()), key
        if template.body != "((body))":
            assert template.body in blocks, key
