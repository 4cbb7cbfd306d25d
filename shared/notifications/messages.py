"""Every message that leaves MIA, in words, once: patient invites and reminders (text and email), clinician alerts.

A message is a template (the words, with `((placeholders))` as GOV.UK Notify
writes them) and the values of its placeholders. The template text here is
what an administrator pastes into Notify (README, "Setting up GOV.UK Notify
and NHSmail SMTP"); SMTP email is rendered here from the same text, so both
providers say the same thing. The outbox stores the template's key, the
values and the rendered text (`OutgoingMessage.to_json`): Notify is sent the
key's template id and the values, SMTP the rendered text.

What no message may say: it leaves the trust and a phone's lock screen shows
it to whoever holds the phone, so there is no patient name, NHS number or
clinical text in any of them, only the organisation's name, the link and
when it stops working; a clinician's alert names the request's reference.

Texts: one fragment is 160 GSM-7 characters (153 each when split); a single
character outside GSM-7 turns the whole text into UCS-2, 70 (67) per
fragment. `sms_length` counts both. Every text must fit two fragments with
the longest organisation name and link allowed, so the values put into a text
are first brought into GSM-7 (`sms_value`: – becomes -, ŵ becomes w) and the
organisation name is cut at MAX_ORGANISATION_NAME septets; the templates
themselves are plain GSM-7 (tests/unit/test_messages.py holds all of it).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.config.messaging import MAX_ORGANISATION_NAME

CHANNEL_SMS = "sms"
CHANNEL_EMAIL = "email"
MAX_SMS_FRAGMENTS = 2

# GSM 03.38: the basic set (one septet each; ESC left out, it only introduces the extension) ...
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# ... and the extension table (two septets each: ESC and the character).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# Typographic characters with a plain GSM-7 equivalent (the ones GOV.UK Notify replaces too).
SMS_REPLACEMENTS = {
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\t": " ",
    "\u200b": "",
    "\u200c": "",
    "\u200d": "",
    "\u2060": "",
    "\ufeff": "",
}
_PLACEHOLDER = re.compile(r"\(\(([a-z_]+)\)\)")


@dataclass(frozen=True)
class SmsLength:
    """How a text travels: its encoding, its length in that encoding's units, and the fragments it needs."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    fragments: int


def _septets(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def sms_length(text: str) -> SmsLength:
    """Fragments as a phone network counts them: a two-unit character (an extension character in GSM-7, a
    surrogate pair in UCS-2) is never split between fragments, so a split text may need one more."""
    if is_gsm7(text):
        encoding, sizes, single, per_part = "GSM-7", [_septets(char) for char in text], 160, 153
    else:
        encoding, single, per_part = "UCS-2", 70, 67
        sizes = [len(char.encode("utf-16-le")) // 2 for char in text]
    units = sum(sizes)
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0)
    fragments, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            fragments, used = fragments + 1, 0
        used += size
    return SmsLength(encoding, units, fragments)


def sms_value(value: str) -> str:
    """A value brought into GSM-7: typographic characters replaced, accents taken off letters GSM-7 lacks
    (ŵ → w), anything else left as '?'. One character outside GSM-7 would more than halve what a text holds."""
    out = []
    for char in value:
        char = SMS_REPLACEMENTS.get(char, char)
        if is_gsm7(char):
            out.append(char)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(plain if plain and is_gsm7(plain) else "?")
    return "".join(out)


def sms_organisation(name: str) -> str:
    """The organisation name as a text gives it: GSM-7, at most MAX_ORGANISATION_NAME septets."""
    value = sms_value(name)
    while sum(_septets(char) for char in value) > MAX_ORGANISATION_NAME:
        value = value[:-1]
    return value.rstrip()


@dataclass(frozen=True)
class Template:
    """One message kind's words. `key` names its Notify template id setting (MIA_NOTIFY_TEMPLATE_<KEY>)."""

    key: str
    channel: str
    body: str
    subject: str | None = None

    @property
    def placeholders(self) -> tuple[str, ...]:
        found = _PLACEHOLDER.findall(f"{self.subject or ''}\n{self.body}")
        return tuple(dict.fromkeys(found))

    def render(self, values: Mapping[str, str]) -> tuple[str | None, str]:
        """(subject, body) with every placeholder filled, as Notify renders them."""

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)

        return (fill(self.subject) if self.subject is not None else None), fill(self.body)


INVITE_SMS = Template(
    key="invite_sms",
    channel=CHANNEL_SMS,
    body=(
        "((organisation)): your care team asks you to send photos or videos. "
        "Open ((link)) and confirm your date of birth. The link works until ((expires))."
    ),
)
REMINDER_SMS = Template(
    key="reminder_sms",
    channel=CHANNEL_SMS,
    body=(
        "((organisation)): reminder - your care team is waiting for your photos or videos. "
        "Open ((link)) and confirm your date of birth. It works until ((expires))."
    ),
)
_EMAIL_ENDING = (
    "You will be asked for your date of birth before you can send anything. Only your care team "
    "can see what you send.\n\n"
    "The link works until ((expires)). If it has stopped working, or you cannot take photos or "
    "videos, contact your care team in the usual way.\n\n"
    "Please do not reply to this email: replies are not read. If you were not expecting it, you can ignore it.\n\n"
    "((organisation))"
)
INVITE_EMAIL = Template(
    key="invite_email",
    channel=CHANNEL_EMAIL,
    subject="((organisation)): please send photos or videos to your care team",
    body=(
        "Your care team at ((organisation)) has asked you to send photos or videos.\n\n"
        "Open this link on your phone to send them:\n((link))\n\n" + _EMAIL_ENDING
    ),
)
REMINDER_EMAIL = Template(
    key="reminder_email",
    channel=CHANNEL_EMAIL,
    subject="Reminder from ((organisation)): please send photos or videos to your care team",
    body=(
        "This is a reminder: your care team at ((organisation)) has asked you to send photos or videos, "
        "and they have not arrived yet.\n\n"
        "Open this link on your phone to send them:\n((link))\n\n" + _EMAIL_ENDING
    ),
)
# One Notify template serves every clinician alert: MIA writes the subject and the words.
CLINICIAN_EMAIL = Template(key="clinician_email", channel=CHANNEL_EMAIL, subject="((subject))", body="((body))")

TEMPLATES = {
    template.key: template for template in (INVITE_SMS, INVITE_EMAIL, REMINDER_SMS, REMINDER_EMAIL, CLINICIAN_EMAIL)
}
_PATIENT_TEMPLATES = {
    ("invite", CHANNEL_SMS): INVITE_SMS,
    ("invite", CHANNEL_EMAIL): INVITE_EMAIL,
    ("reminder", CHANNEL_SMS): REMINDER_SMS,
    ("reminder", CHANNEL_EMAIL): REMINDER_EMAIL,
}
_NO_PATIENT_DETAILS = (
    "This email has no patient details on purpose. Open the portal to see the request (you will be asked to sign in)."
)


class UnknownMessage(ValueError):
    """A stored body that is not an outgoing message of ours (a portal notice, or a row from before delivery)."""


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for a provider: its template, the values of its placeholders, and the rendered text."""

    template: str
    values: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        template = TEMPLATES.get(self.template)
        if template is None:
            raise UnknownMessage(f"no message template {self.template!r}")
        missing = [name for name in template.placeholders if not self.values.get(name)]
        if missing:
            raise UnknownMessage(f"message {self.template!r} lacks {', '.join(missing)}")

    @property
    def channel(self) -> str:
        return TEMPLATES[self.template].channel

    @property
    def subject(self) -> str | None:
        return TEMPLATES[self.template].render(self.values)[0]

    @property
    def text(self) -> str:
        return TEMPLATES[self.template].render(self.values)[1]

    @property
    def organisation(self) -> str | None:
        """The sender's name shown in an email's From header (patient messages only)."""
        return self.values.get("organisation")

    def to_json(self) -> str:
        """What the outbox stores (encrypted): the template and values, and the text as rendered when queued."""
        return json.dumps(
            {"template": self.template, "values": dict(self.values), "subject": self.subject, "text": self.text},
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str) -> OutgoingMessage:
        """Raises UnknownMessage for a body that is not one (a plain-text portal notice)."""
        try:
            stored = json.loads(raw)
        except ValueError:
            raise UnknownMessage("not a stored outgoing message") from None
        if not isinstance(stored, dict) or not isinstance(stored.get("values"), dict):
            raise UnknownMessage("not a stored outgoing message")
        return cls(str(stored.get("template")), {str(k): str(v) for k, v in stored["values"].items()})


def _patient_message(purpose: str, channel: str, *, organisation: str, link: str, expires_text: str) -> OutgoingMessage:
    template = _PATIENT_TEMPLATES[(purpose, channel)]
    values = {"organisation": organisation, "link": link, "expires": expires_text}
    if channel == CHANNEL_SMS:
        values = {
            **{name: sms_value(value) for name, value in values.items()},
            "organisation": sms_organisation(organisation),
        }
    return OutgoingMessage(template.key, values)


def patient_invite(channel: str, *, organisation: str, link: str, expires_text: str) -> OutgoingMessage:
    """The first message to a patient: who asks, the link, and until when it works."""
    return _patient_message("invite", channel, organisation=organisation, link=link, expires_text=expires_text)


def patient_reminder(channel: str, *, organisation: str, link: str, expires_text: str) -> OutgoingMessage:
    """A reminder while the patient has not sent: the same link, the same words about it."""
    return _patient_message("reminder", channel, organisation=organisation, link=link, expires_text=expires_text)


def in_clinic_invite(*, organisation: str, link: str, expires_text: str) -> str:
    """The invite's words for a link handed over in clinic (nothing is sent; the portal row holds the link)."""
    return INVITE_SMS.render({"organisation": organisation, "link": link, "expires": expires_text})[1]


def _clinician(subject: str, *paragraphs: str) -> OutgoingMessage:
    return OutgoingMessage(CLINICIAN_EMAIL.key, {"subject": subject, "body": "\n\n".join(paragraphs)})


def clinician_submission(*, reference: str, portal_link: str) -> OutgoingMessage:
    """To the requesting clinician and the team mailbox when a patient presses Send."""
    return _clinician(
        f"MIA: photos or videos received for request {reference}",
        f"The patient has sent the photos or videos you asked for in request {reference}. "
        "They are being prepared and will be ready to review in a few minutes.",
        f"Review them in the portal:\n{portal_link}",
        _NO_PATIENT_DETAILS,
    )


def clinician_invite_failed(*, reference: str, portal_link: str, reason: str) -> OutgoingMessage:
    """To the requesting clinician when a patient's invite or reminder could not be delivered."""
    return _clinician(
        f"MIA: the link for request {reference} did not reach the patient",
        f"The message with the patient's link for request {reference} could not be delivered: {reason}",
        f"In the portal you can send it again, send it by email instead, or show the link and QR code:\n{portal_link}",
        _NO_PATIENT_DETAILS,
    )


def clinician_processing_failed(*, reference: str, portal_link: str) -> OutgoingMessage:
    """To the requesting clinician when a file the patient sent could not be prepared for review."""
    return _clinician(
        f"MIA: a file for request {reference} could not be prepared",
        f"One of the files the patient sent for request {reference} could not be prepared for review. "
        "The portal says which one and why; you may want to ask the patient to send it again.",
        f"Open the request in the portal:\n{portal_link}",
        _NO_PATIENT_DETAILS,
    )
