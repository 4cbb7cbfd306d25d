"""GOV.UK Notify, texts and email, through its official client (`notifications-python-client`).

Notify is given the template id configured for the message's kind, the
values of its placeholders and, as `reference`, the outbox row's id: that is
how a message that may have reached Notify before a crash is found again
(`accepted_earlier`) instead of being sent twice. Notify's answers become
our two failures: 429, 5xx, timeouts and lost connections are temporary
(the client reports the last two as 503); 400 and 403 are permanent, with a
reason a clinician can act on. The client signs each request with a fresh
JWT (HS256, the key's secret half, `iat` now): Notify refuses one more than
30 seconds off its clock, so the server's clock must be right (README).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notifications_python_client.errors import APIError, InvalidResponse
from notifications_python_client.notifications import NotificationsAPIClient

from shared.notifications.channels.base import HandingOver, Outgoing, PermanentFailure, TemporaryFailure
from shared.notifications.messages import CHANNEL_SMS

PROVIDER = "notify"

CANNOT_TEXT = "This number can't receive texts. Check the mobile number, or send the link by email instead."
CANNOT_EMAIL = "This email address can't receive email. Check it, or send the link by text instead."
TRIAL_MODE = (
    "GOV.UK Notify is in trial mode and only sends to its own team. "
    "Ask your administrator to make the Notify service live."
)
TEMPLATE_MISMATCH = (
    "The GOV.UK Notify template for this message is missing or does not match MIA. "
    "Ask your administrator to check the Notify templates (see the README)."
)
KEY_REFUSED = (
    "GOV.UK Notify refused MIA's API key (or this server's clock is wrong). "
    "Ask your administrator to check MIA_NOTIFY_API_KEY and the server's clock."
)
REFUSED = "GOV.UK Notify refused this message. Ask your administrator to look at the notifications log."


def _error_text(error: APIError) -> tuple[str, str]:
    """(error names, messages) of Notify's error JSON: {"status_code": …, "errors": [{"error", "message"}]}."""
    found = error.message
    entries = found if isinstance(found, list) else [{"error": "", "message": str(found)}]
    names = ",".join(str(entry.get("error", "")) for entry in entries if isinstance(entry, dict))
    texts = " ".join(str(entry.get("message", "")) for entry in entries if isinstance(entry, dict))
    return names, texts


def failure_for(error: APIError) -> TemporaryFailure | PermanentFailure:
    """Notify's refusal as one of our failures (see the module docstring)."""
    if error.response is None:  # the client's word for a timeout or a failed connection (it reports 503)
        return TemporaryFailure("notify: no answer (timed out, or the connection failed)")
    status = error.status_code
    names, texts = _error_text(error)
    detail = f"notify {status} {names}".strip()
    if status == 429 or status >= 500:
        return TemporaryFailure(detail)
    if status == 403:
        return PermanentFailure(KEY_REFUSED, detail)
    lowered = texts.lower()
    if "trial mode" in lowered or "team-only" in lowered:
        return PermanentFailure(TRIAL_MODE, detail)
    if "phone_number" in lowered or "mobile" in lowered:
        return PermanentFailure(CANNOT_TEXT, detail)
    if "email_address" in lowered:
        return PermanentFailure(CANNOT_EMAIL, detail)
    if "personalisation" in lowered or "template" in lowered:
        return PermanentFailure(TEMPLATE_MISMATCH, f"{detail}: {texts[:200]}")
    return PermanentFailure(REFUSED, f"{detail}: {texts[:200]}")


class NotifyChannel:
    """Texts and email through one Notify service (one API key)."""

    provider = PROVIDER
    can_look_up_references = True

    def __init__(self, api_key: str, base_url: str, templates: Mapping[str, str], timeout: float) -> None:
        self._client = NotificationsAPIClient(api_key, base_url=base_url, timeout=timeout)
        self._templates = dict(templates)

    def send(self, outgoing: Outgoing, handing_over: HandingOver) -> str:
        message = outgoing.message
        template_id = self._templates.get(message.template)
        if template_id is None:
            raise PermanentFailure(TEMPLATE_MISMATCH, f"no Notify template id for {message.template}")
        values = dict(message.values)
        handing_over()
        try:
            if message.channel == CHANNEL_SMS:
                response = self._client.send_sms_notification(
                    phone_number=outgoing.recipient,
                    template_id=template_id,
                    personalisation=values,
                    reference=outgoing.notification_id,
                )
            else:
                response = self._client.send_email_notification(
                    email_address=outgoing.recipient,
                    template_id=template_id,
                    personalisation=values,
                    reference=outgoing.notification_id,
                )
        except InvalidResponse as error:
            raise TemporaryFailure(f"notify {error.status_code}: an answer that is not JSON") from None
        except APIError as error:
            raise failure_for(error) from None
        return self._notification_id(response)

    def accepted_earlier(self, notification_id: str) -> str | None:
        """Notify's id of the message sent with this reference, if Notify has one."""
        try:
            response = self._client.get_all_notifications(reference=notification_id)
        except APIError as error:
            raise TemporaryFailure(f"notify {error.status_code} looking up a reference") from None
        for found in response.get("notifications", []) if isinstance(response, dict) else []:
            if isinstance(found, dict) and found.get("reference") == notification_id and found.get("id"):
                return str(found["id"])
        return None

    def lookup(self, provider_id: str) -> dict[str, Any]:
        """Notify's notification JSON for one of its ids (`get_notification_by_id`), for polling receipts."""
        return self._client.get_notification_by_id(provider_id)

    @staticmethod
    def _notification_id(response: object) -> str:
        if not isinstance(response, dict) or not response.get("id"):
            raise TemporaryFailure("notify 201 without a notification id")
        return str(response["id"])
