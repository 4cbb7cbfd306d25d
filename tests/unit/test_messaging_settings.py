"""Settings of delivery: what the dispatcher needs is refused at start-up, one line naming the variable."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from shared.config.messaging import NOTIFY_TEMPLATE_VARIABLES
from shared.config.settings import ConfigError, load_settings

KEY = f"mia_live-{uuid.uuid4()}-{uuid.uuid4()}"
TEMPLATES = {name: str(uuid.uuid4()) for name in NOTIFY_TEMPLATE_VARIABLES.values()}


def settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings({"MIA_DATA_DIR": str(tmp_path), **env})


def test_nothing_configured_sends_nothing(tmp_path: Path) -> None:
    messaging = settings(tmp_path).messaging
    assert not messaging.sms_configured and not messaging.email_configured
    assert (messaging.dispatch_lease_seconds, messaging.dispatch_timeout_seconds) == (60, 15)


def test_notify_needs_every_template_it_will_use(tmp_path: Path) -> None:
    sms_only = {name: value for name, value in TEMPLATES.items() if name.endswith("_SMS")}
    messaging = settings(tmp_path, MIA_NOTIFY_API_KEY=KEY, MIA_EMAIL_PROVIDER="smtp", **sms_only, **SMTP).messaging
    assert messaging.sms_configured and messaging.email_provider == "smtp"
    with pytest.raises(ConfigError, match=r"^MIA_NOTIFY_TEMPLATE_INVITE_SMS: required when GOV.UK Notify sends texts"):
        settings(tmp_path, MIA_NOTIFY_API_KEY=KEY)
    with pytest.raises(
        ConfigError, match=r"^MIA_NOTIFY_TEMPLATE_INVITE_EMAIL: required when GOV.UK Notify sends email"
    ):
        settings(tmp_path, MIA_NOTIFY_API_KEY=KEY, **sms_only)
    everything = settings(tmp_path, MIA_NOTIFY_API_KEY=KEY, **TEMPLATES).messaging
    assert everything.email_provider == "notify" and set(everything.notify_templates) == set(NOTIFY_TEMPLATE_VARIABLES)


SMTP = {"MIA_SMTP_URL": "smtp://relay.example.nhs.uk:587", "MIA_MAIL_FROM": "mia@example.nhs.uk"}


@pytest.mark.parametrize(
    "url", ["smtp://user:secret@relay.example.nhs.uk:25?starttls=false", "smtp://u:p@10.0.0.5?starttls=no"]
)
def test_a_password_is_never_sent_without_tls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="a password is sent only over TLS") as refused:
        settings(tmp_path, MIA_SMTP_URL=url, MIA_MAIL_FROM="mia@example.nhs.uk")
    assert "secret" not in str(refused.value)


def test_a_relay_on_this_machine_may_take_a_password_without_tls(tmp_path: Path) -> None:
    smtp = settings(
        tmp_path, MIA_SMTP_URL="smtp://u:p@127.0.0.1:2525?starttls=false", MIA_MAIL_FROM="mia@example.nhs.uk"
    ).messaging.smtp
    assert smtp is not None and (smtp.security, smtp.username) == ("none", "u")


def test_the_lease_outlives_three_provider_calls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^MIA_DISPATCH_LEASE_SECONDS: expected at least three times"):
        settings(tmp_path, MIA_DISPATCH_LEASE_SECONDS="20", MIA_DISPATCH_TIMEOUT_SECONDS="10")
    messaging = settings(tmp_path, MIA_DISPATCH_LEASE_SECONDS="30", MIA_DISPATCH_TIMEOUT_SECONDS="10").messaging
    assert (messaging.dispatch_lease_seconds, messaging.dispatch_timeout_seconds) == (30, 10)


@pytest.mark.parametrize("url", ["http://notify.example.org", "ftp://127.0.0.1", "https://x?y=1"])
def test_notify_is_reached_over_https_except_on_this_machine(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match=r"^MIA_NOTIFY_BASE_URL: expected an https base URL"):
        settings(tmp_path, MIA_NOTIFY_BASE_URL=url)
    assert settings(tmp_path, MIA_NOTIFY_BASE_URL="http://127.0.0.1:9999/").messaging.notify_base_url == (
        "http://127.0.0.1:9999"
    )


def test_a_patient_link_too_long_for_two_fragments_is_refused_when_texts_are_sent(tmp_path: Path) -> None:
    long_url = "https://photos.dermatology.leeds-teaching-hospitals.nhs.uk"
    assert settings(tmp_path, MIA_PATIENT_BASE_URL=long_url).patient_base_url == long_url  # no texts: any length
    with pytest.raises(ConfigError, match=r"^MIA_PATIENT_BASE_URL: at most 50 characters when texts are sent"):
        settings(tmp_path, MIA_PATIENT_BASE_URL=long_url, MIA_NOTIFY_API_KEY=KEY, **TEMPLATES)
