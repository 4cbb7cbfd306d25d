"""Settings for messages that leave MIA: GOV.UK Notify (SMS and email), SMTP (email), reminders, the sender's name.

With nothing set (the embedded default) no message leaves: patient invites
are shown in the portal as a link and a QR code, and the portal says that no
SMS or email service is configured. Every value comes from the environment;
a bad one stops start-up with one line naming the variable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from shared.numbers import whole_number

NOTIFY_PUBLIC_API = "https://api.notifications.service.gov.uk"
DEFAULT_ORGANISATION = "Your NHS care team"
# Long enough for "Leeds Teaching Hospitals NHS Trust – Dermatology"; every SMS template is checked to fit
# two fragments with a name this long (shared/notifications/messages.py).
MAX_ORGANISATION_NAME = 60
# The patient link is MIA_PATIENT_BASE_URL + "/p/" + a 43-character token; texts fit two fragments with a
# base URL this long (checked in settings.py when texts are sent).
MAX_PATIENT_BASE_URL = 50
EMAIL_PROVIDERS = ("notify", "smtp")
# Notify template ids per message kind (each a template of the team's Notify service, see README).
NOTIFY_TEMPLATE_VARIABLES = {
    "invite_sms": "MIA_NOTIFY_TEMPLATE_INVITE_SMS",
    "invite_email": "MIA_NOTIFY_TEMPLATE_INVITE_EMAIL",
    "reminder_sms": "MIA_NOTIFY_TEMPLATE_REMINDER_SMS",
    "reminder_email": "MIA_NOTIFY_TEMPLATE_REMINDER_EMAIL",
    "clinician_email": "MIA_NOTIFY_TEMPLATE_CLINICIAN_EMAIL",
}
# The templates each provider needs: texts always go through Notify; email only when Notify serves it.
NOTIFY_SMS_TEMPLATES = ("invite_sms", "reminder_sms")
NOTIFY_EMAIL_TEMPLATES = ("invite_email", "reminder_email", "clinician_email")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_NOTIFY_KEY = re.compile(r"[A-Za-z0-9_-]+-(?P<service>[0-9a-f-]{36})-(?P<secret>[0-9a-f-]{36})")
# Notify sends it back as `Authorization: Bearer …`; long and random enough that guessing is hopeless.
_CALLBACK_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{32,256}")
_MAILBOX = re.compile(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+")


class MessagingConfigError(ValueError):
    """A messaging setting is malformed (message is one line naming the variable)."""


@dataclass(frozen=True)
class SmtpTarget:
    """Where SMTP email goes (MIA_SMTP_URL): `smtp://` with STARTTLS or without TLS, `smtps://` implicit TLS."""

    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security: str = "starttls"  # "starttls", "tls" (implicit, smtps) or "none" (loopback relays and tests only)


@dataclass(frozen=True)
class MessagingSettings:
    organisation_name: str = DEFAULT_ORGANISATION
    notify_api_key: str | None = field(default=None, repr=False)
    notify_base_url: str = NOTIFY_PUBLIC_API
    notify_templates: Mapping[str, str] = field(default_factory=dict)
    notify_callback_token: str | None = field(default=None, repr=False)
    notify_poll_after_minutes: int = 30
    smtp: SmtpTarget | None = None
    mail_from: str | None = None
    email_provider: str | None = None  # "notify", "smtp" or None (no email leaves)
    reminder_after_hours: int = 48  # 0: no reminder after the invite
    reminder_before_expiry_hours: int = 24  # 0: no reminder before the link expires
    dispatch_poll_seconds: int = 5
    dispatch_lease_seconds: int = 60
    dispatch_timeout_seconds: int = 15  # one call to a provider; the lease is at least three times this

    @property
    def sms_configured(self) -> bool:
        """SMS goes through Notify only."""
        return self.notify_api_key is not None

    @property
    def email_configured(self) -> bool:
        return self.email_provider is not None


def load_messaging(get: Callable[[str, str], str]) -> MessagingSettings:
    """Read the messaging settings through `get(name, default)` (the settings loader's accessor)."""
    notify_key = _notify_key(get("MIA_NOTIFY_API_KEY", ""))
    smtp = _smtp_target(get("MIA_SMTP_URL", ""))
    mail_from = _mailbox("MIA_MAIL_FROM", get("MIA_MAIL_FROM", ""))
    provider = _email_provider(get("MIA_EMAIL_PROVIDER", ""), notify_key, smtp)
    if provider == "smtp" and mail_from is None:
        raise MessagingConfigError("MIA_MAIL_FROM: required when email goes through SMTP (MIA_SMTP_URL)")
    templates = {kind: _template_id(name, get(name, "")) for kind, name in NOTIFY_TEMPLATE_VARIABLES.items()}
    _require_templates(templates, notify_key, provider)
    lease = _count("MIA_DISPATCH_LEASE_SECONDS", get("MIA_DISPATCH_LEASE_SECONDS", "60"))
    timeout = _count("MIA_DISPATCH_TIMEOUT_SECONDS", get("MIA_DISPATCH_TIMEOUT_SECONDS", "15"))
    if lease < 3 * timeout:
        raise MessagingConfigError(
            f"MIA_DISPATCH_LEASE_SECONDS: expected at least three times MIA_DISPATCH_TIMEOUT_SECONDS ({3 * timeout}), "
            f"got {lease}: a message being sent must never outlive its lease"
        )
    return MessagingSettings(
        organisation_name=_organisation_name(get("MIA_ORGANISATION_NAME", DEFAULT_ORGANISATION)),
        notify_api_key=notify_key,
        notify_base_url=_https_url("MIA_NOTIFY_BASE_URL", get("MIA_NOTIFY_BASE_URL", NOTIFY_PUBLIC_API)),
        notify_templates={kind: value for kind, value in templates.items() if value},
        notify_callback_token=_callback_token(get("MIA_NOTIFY_CALLBACK_TOKEN", "")),
        notify_poll_after_minutes=_count("MIA_NOTIFY_POLL_AFTER_MINUTES", get("MIA_NOTIFY_POLL_AFTER_MINUTES", "30")),
        smtp=smtp,
        mail_from=mail_from,
        email_provider=provider,
        reminder_after_hours=_count("MIA_REMINDER_AFTER_HOURS", get("MIA_REMINDER_AFTER_HOURS", "48"), zero=True),
        reminder_before_expiry_hours=_count(
            "MIA_REMINDER_BEFORE_EXPIRY_HOURS", get("MIA_REMINDER_BEFORE_EXPIRY_HOURS", "24"), zero=True
        ),
        dispatch_poll_seconds=_count("MIA_DISPATCH_POLL_SECONDS", get("MIA_DISPATCH_POLL_SECONDS", "5")),
        dispatch_lease_seconds=lease,
        dispatch_timeout_seconds=timeout,
    )


def _organisation_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or len(name) > MAX_ORGANISATION_NAME or any(ord(char) < 32 for char in name):
        raise MessagingConfigError(
            f"MIA_ORGANISATION_NAME: expected a name of 1 to {MAX_ORGANISATION_NAME} characters, got {raw!r}"
        )
    return name


def _notify_key(raw: str) -> str | None:
    if not raw:
        return None
    if not _NOTIFY_KEY.fullmatch(raw):
        raise MessagingConfigError(
            "MIA_NOTIFY_API_KEY: expected a GOV.UK Notify API key (key name, service id and secret, joined by '-')"
        )
    return raw


def _callback_token(raw: str) -> str | None:
    if not raw:
        return None
    if not _CALLBACK_TOKEN.fullmatch(raw):
        raise MessagingConfigError(  # never the value: it is a secret
            "MIA_NOTIFY_CALLBACK_TOKEN: expected 32 to 256 characters of letters, digits and -._~+/= "
            f"(e.g. openssl rand -hex 32), got {len(raw)} characters"
        )
    return raw


def _template_id(name: str, raw: str) -> str | None:
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise MessagingConfigError(f"{name}: expected a Notify template id (a UUID), got {raw!r}") from None


def _require_templates(templates: Mapping[str, str | None], notify_key: str | None, provider: str | None) -> None:
    """Without a template id Notify cannot send that kind: refuse at start-up, not message by message."""
    needed = (NOTIFY_SMS_TEMPLATES if notify_key else ()) + (NOTIFY_EMAIL_TEMPLATES if provider == "notify" else ())
    missing = [NOTIFY_TEMPLATE_VARIABLES[kind] for kind in needed if not templates.get(kind)]
    if missing:
        raise MessagingConfigError(
            f"{missing[0]}: required when GOV.UK Notify sends "
            f"{'texts' if missing[0].endswith('_SMS') else 'email'} (the id of the template, see README)"
        )


def _https_url(name: str, raw: str) -> str:
    """HTTPS, or plain HTTP to this machine only (the tests' contract server): the API key signs every request."""
    parts = urlsplit(raw)
    plain_ok = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if (parts.scheme != "https" and not plain_ok) or not parts.netloc or parts.query or parts.fragment:
        raise MessagingConfigError(f"{name}: expected an https base URL such as {NOTIFY_PUBLIC_API}, got {raw!r}")
    return raw.rstrip("/")


def _smtp_target(raw: str) -> SmtpTarget | None:
    """`smtp://user:pass@host:587?starttls=true`, `smtp://host:25?starttls=false`, `smtps://user:pass@host:465`."""
    if not raw:
        return None
    parts = urlsplit(raw)
    shown = f"{parts.scheme}://{parts.hostname or ''}:{parts.port or ''}"  # never the password
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MessagingConfigError(f"MIA_SMTP_URL: expected smtp://USER:PASSWORD@HOST:PORT or smtps://…, got {shown!r}")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise MessagingConfigError(f"MIA_SMTP_URL: the port is not a number ({shown!r})") from None
    query = {key: values[-1].lower() for key, values in parse_qs(parts.query).items()}
    if parts.scheme == "smtps":
        security = "tls"
    elif query.get("starttls", "true") in ("true", "1", "yes"):
        security = "starttls"
    elif query.get("starttls") in ("false", "0", "no"):
        security = "none"
    else:
        raise MessagingConfigError("MIA_SMTP_URL: starttls must be true or false")
    if security == "none" and parts.password and parts.hostname not in LOOPBACK_HOSTS:
        raise MessagingConfigError(
            "MIA_SMTP_URL: a password is sent only over TLS; use starttls=true or smtps:// (or a relay on this machine)"
        )
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        security=security,
    )


def _mailbox(name: str, raw: str) -> str | None:
    if not raw:
        return None
    if not _MAILBOX.fullmatch(raw.strip()):
        raise MessagingConfigError(f"{name}: expected an email address such as mia@example.nhs.uk, got {raw!r}")
    return raw.strip()


def _email_provider(raw: str, notify_key: str | None, smtp: SmtpTarget | None) -> str | None:
    if not raw:
        return "smtp" if smtp else ("notify" if notify_key else None)
    choice = raw.strip().lower()
    if choice not in EMAIL_PROVIDERS:
        raise MessagingConfigError(f"MIA_EMAIL_PROVIDER: expected notify or smtp, got {raw!r}")
    if choice == "smtp" and smtp is None:
        raise MessagingConfigError("MIA_EMAIL_PROVIDER: smtp needs MIA_SMTP_URL")
    if choice == "notify" and notify_key is None:
        raise MessagingConfigError("MIA_EMAIL_PROVIDER: notify needs MIA_NOTIFY_API_KEY")
    return choice


def _count(name: str, raw: str, *, zero: bool = False) -> int:
    value = whole_number(raw, max_digits=6)
    if value is None or (value == 0 and not zero):
        least = 0 if zero else 1
        raise MessagingConfigError(f"{name}: expected a whole number of at least {least} (digits 0-9), got {raw!r}")
    return value
