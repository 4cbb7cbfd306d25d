"""GOV.UK Notify's v2 API, as much of it as MIA uses, on loopback: the contract server for offline tests.

A Notify test key sends nothing and Notify is not reachable offline, so the
tests talk to this instead, through the unmodified official client. It
implements the documented contract (docs.notifications.service.gov.uk,
"REST API"):

- every request carries `Authorization: Bearer <JWT>`, HS256-signed with
  the API key's secret half, `iss` = the service id, `iat` within 30 s of
  this server's clock (which a test may set wrong); else 403 AuthError;
- POST /v2/notifications/sms and /email: the JSON body is validated as
  Notify's schema does (required and unknown fields, a UUID template id of
  this service and of the right type, every placeholder given, a UK mobile
  number or an email address); 201 with Notify's body, the template rendered;
- GET /v2/notifications/{id}, and GET /v2/notifications?reference=… (the
  list, filtered by reference);
- errors as Notify writes them: {"status_code": …, "errors": [{"error", "message"}]}.

A test can make the next POSTs fail with 400/403/429/500, hang (after
accepting the message or before), or be held at the n-th (accepted, then no
answer until released: where a SIGKILL hurts most). It records what it
accepted, and sends delivery callbacks as Notify does (`send_callback`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import jwt
import requests
from aiohttp import web

from shared.config.messaging import NOTIFY_TEMPLATE_VARIABLES
from shared.notifications.messages import TEMPLATES

JWT_BOUND_SECONDS = 30
PUBLIC_URI = "https://api.notifications.service.gov.uk"
_PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
_UK_MOBILE = re.compile(r"(?:\+44|0044|44|0)7\d{9}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SMS_FIELDS = {"phone_number", "template_id", "personalisation", "reference", "sms_sender_id"}
EMAIL_FIELDS = {
    "email_address",
    "template_id",
    "personalisation",
    "reference",
    "email_reply_to_id",
    "one_click_unsubscribe_url",
}
FAILURES = {
    400: ("BadRequestError", "Can't send to this recipient using a team-only API key"),
    403: ("AuthError", "Invalid token: API key not found"),
    429: ("RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"),
    500: ("Exception", "Internal server error"),
}


@dataclass(frozen=True)
class ServerTemplate:
    id: str
    type: str  # "sms" or "email"
    body: str
    subject: str | None = None

    def render(self, values: dict[str, str]) -> tuple[str | None, str]:
        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), text)

        return (fill(self.subject) if self.subject else None), fill(self.body)

    def placeholders(self) -> list[str]:
        return _PLACEHOLDER.findall(f"{self.subject or ''}{self.body}")


@dataclass
class Accepted:
    """A notification Notify would now be sending."""

    id: str
    type: str
    template_id: str
    recipient: str
    personalisation: dict[str, str]
    reference: str | None
    subject: str | None
    body: str
    created_at: str
    status: str = "created"
    sent_at: str | None = None
    completed_at: str | None = None

    def as_notify_json(self, base_url: str) -> dict[str, object]:
        """GET /v2/notifications/{id} as Notify answers it."""
        return {
            "id": self.id,
            "reference": self.reference,
            "email_address": self.recipient if self.type == "email" else None,
            "phone_number": self.recipient if self.type == "sms" else None,
            "line_1": None,
            "line_2": None,
            "line_3": None,
            "line_4": None,
            "line_5": None,
            "line_6": None,
            "postcode": None,
            "type": self.type,
            "status": self.status,
            "template": {"id": self.template_id, "version": 1, "uri": f"{base_url}/v2/template/{self.template_id}"},
            "body": self.body,
            "subject": self.subject,
            "created_at": self.created_at,
            "created_by_name": None,
            "sent_at": self.sent_at,
            "completed_at": self.completed_at,
            "scheduled_for": None,
            "one_click_unsubscribe": None,
            "is_cost_data_ready": False,
            "cost_in_pounds": None,
            "cost_details": {},
        }


@dataclass
class Behaviour:
    """What the next POST does instead of answering normally."""

    status: int | None = None  # fail with this status
    message: str | None = None
    hang: bool = False  # no answer until released (or the server stops)
    accept_first: bool = False  # record the notification before hanging: Notify has it, the caller never learns
    held: threading.Event = field(default_factory=threading.Event)  # set once the request is hanging
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"status_code": status, "errors": [{"error": error, "message": message}]}, status=status)


class NotifyContractServer:
    """Start with `with NotifyContractServer() as notify:`; `notify.environment()` configures MIA for it."""

    def __init__(self, *, clock_offset_seconds: float = 0.0) -> None:
        self.service_id = str(uuid.uuid4())
        self.secret = str(uuid.uuid4())
        self.clock_offset_seconds = clock_offset_seconds
        self.templates: dict[str, ServerTemplate] = {}
        self._accepted: dict[str, Accepted] = {}
        self._behaviours: list[Behaviour | None] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._hanging: list[Behaviour] = []
        self.refused: list[tuple[str, int]] = []  # (path, status) of every request answered with an error
        self.posts = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.mia_templates = {key: self.add_template(t.channel, t.body, t.subject) for key, t in TEMPLATES.items()}

    # -- set-up ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_key(self) -> str:
        """A key as Notify issues them: the key's name, the service id and the secret, joined by '-'."""
        return f"mia_test-{self.service_id}-{self.secret}"

    def add_template(self, template_type: str, body: str, subject: str | None = None) -> str:
        template = ServerTemplate(str(uuid.uuid4()), template_type, body, subject)
        self.templates[template.id] = template
        return template.id

    def environment(self) -> dict[str, str]:
        """MIA's settings for this server: the key, the base URL and every template id (MIA's own words)."""
        env = {"MIA_NOTIFY_API_KEY": self.api_key, "MIA_NOTIFY_BASE_URL": self.base_url}
        env.update({NOTIFY_TEMPLATE_VARIABLES[key]: value for key, value in self.mia_templates.items()})
        return env

    def fail_next(self, status: int, count: int = 1, message: str | None = None) -> None:
        with self._lock:
            self._behaviours += [Behaviour(status=status, message=message) for _ in range(count)]

    def hang_next(self, *, accept_first: bool) -> Behaviour:
        behaviour = Behaviour(hang=True, accept_first=accept_first)
        with self._lock:
            self._behaviours.append(behaviour)
        return behaviour

    def hold_at(self, ordinal: int) -> Behaviour:
        """The `ordinal`-th POST from now is accepted and then left unanswered; `.held` is set when it is."""
        behaviour = Behaviour(hang=True, accept_first=True)
        with self._lock:
            self._behaviours += [None] * (ordinal - 1) + [behaviour]
        return behaviour

    def release(self) -> None:
        """Let every request hanging now end (its client has usually gone)."""
        with self._lock:
            hanging = list(self._hanging)
        for behaviour in hanging:
            behaviour.release()

    # -- what happened -----------------------------------------------------------
    @property
    def accepted(self) -> list[Accepted]:
        with self._lock:
            return list(self._accepted.values())

    def by_reference(self) -> dict[str, list[Accepted]]:
        found: dict[str, list[Accepted]] = {}
        for notification in self.accepted:
            found.setdefault(notification.reference or "", []).append(notification)
        return found

    def wait_for(self, count: int, seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.accepted) >= count:
                return True
            time.sleep(0.05)
        return False

    def set_status(self, notification_id: str, status: str) -> None:
        with self._lock:
            notification = self._accepted[notification_id]
            notification.status = status
            notification.sent_at = notification.sent_at or _now()
            if status not in ("created", "sending", "pending"):
                notification.completed_at = _now()

    def send_callback(self, url: str, token: str, notification_id: str, status: str) -> requests.Response:
        """POST Notify's delivery-status callback for one notification, with the service's bearer token."""
        self.set_status(notification_id, status)
        notification = self._accepted[notification_id]
        payload = {
            "id": notification.id,
            "reference": notification.reference,
            "to": notification.recipient,
            "status": status,
            "created_at": notification.created_at,
            "completed_at": notification.completed_at,
            "sent_at": notification.sent_at,
            "notification_type": notification.type,
            "template_id": notification.template_id,
            "template_version": 1,
        }
        return requests.post(url, json=payload, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    # -- the API -----------------------------------------------------------------
    def _authorised(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _error(401, "AuthError", "Unauthorized: authentication token must be provided")
        token = header[len("Bearer ") :]
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header_fields = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return _error(403, "AuthError", "Invalid token: signature, api token is not valid")
        if header_fields.get("alg") != "HS256":
            return _error(403, "AuthError", "Invalid token: algorithm used is not HS256")
        if unverified.get("iss") != self.service_id:
            return _error(403, "AuthError", "Invalid token: service id does not match")
        try:
            claims = jwt.decode(token, key=self.secret, algorithms=["HS256"], options={"verify_iat": False})
        except jwt.PyJWTError:
            return _error(403, "AuthError", "Invalid token: API key not found")
        now = time.time() + self.clock_offset_seconds
        issued = claims.get("iat")
        if not isinstance(issued, int | float) or abs(now - issued) > JWT_BOUND_SECONDS:
            return _error(403, "AuthError", "Error: Your system clock must be accurate to within 30 seconds")
        return None

    def _answered_with_error(self, request: web.Request, response: web.Response) -> web.Response:
        with self._lock:
            self.refused.append((request.path, response.status))
        return response

    async def _post(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return self._answered_with_error(request, refused)
        notification_type = request.match_info["type"]
        with self._lock:
            self.posts += 1
            behaviour = self._behaviours.pop(0) if self._behaviours else None
        if behaviour is not None and behaviour.status is not None:
            error, message = FAILURES[behaviour.status]
            return self._answered_with_error(request, _error(behaviour.status, error, behaviour.message or message))
        try:
            body = await request.json()
        except ValueError:
            return self._answered_with_error(request, _error(400, "BadRequestError", "Invalid JSON supplied"))
        problem = self._invalid(notification_type, body)
        if problem is not None:
            return self._answered_with_error(request, _error(400, *problem))
        if behaviour is not None and behaviour.hang and not behaviour.accept_first:
            await self._hang(behaviour)
            return _error(500, "Exception", "Internal server error")
        notification = self._accept(notification_type, body)
        if behaviour is not None and behaviour.hang:
            await self._hang(behaviour)
        return web.json_response(self._created(notification), status=201)

    async def _hang(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._hanging.append(behaviour)
        behaviour.held.set()
        while not (behaviour.released.is_set() or self._stopping.is_set()):
            await asyncio.sleep(0.02)

    def _invalid(self, notification_type: str, body: object) -> tuple[str, str] | None:
        if not isinstance(body, dict):
            return "BadRequestError", "Invalid JSON supplied"
        allowed = SMS_FIELDS if notification_type == "sms" else EMAIL_FIELDS
        recipient_field = "phone_number" if notification_type == "sms" else "email_address"
        for name in sorted(set(body) - allowed):
            return "ValidationError", f"Additional properties are not allowed ({name} was unexpected)"
        for name in (recipient_field, "template_id"):
            if name not in body:
                return "ValidationError", f"{name} is a required property"
        try:
            template_id = str(uuid.UUID(str(body["template_id"])))
        except ValueError:
            return "ValidationError", "template_id is not a valid UUID"
        template = self.templates.get(template_id)
        if template is None:
            return "BadRequestError", "Template not found"
        if template.type != notification_type:
            return "BadRequestError", f"{template.type} template is not suitable for {notification_type} notification"
        values = body.get("personalisation") or {}
        if not isinstance(values, dict):
            return "ValidationError", "personalisation is not of type object"
        missing = [name for name in template.placeholders() if name not in values]
        if missing:
            return "BadRequestError", f"Missing personalisation: {', '.join(missing)}"
        reference = body.get("reference")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 1000):
            return "ValidationError", "reference is not of type string"
        recipient = str(body[recipient_field])
        if notification_type == "sms" and not _UK_MOBILE.fullmatch(re.sub(r"[\s()-]", "", recipient)):
            return "ValidationError", "phone_number Not a UK mobile number"
        if notification_type == "email" and not _EMAIL.fullmatch(recipient):
            return "ValidationError", "email_address Not a valid email address"
        return None

    def _accept(self, notification_type: str, body: dict) -> Accepted:
        template = self.templates[str(uuid.UUID(str(body["template_id"])))]
        values = {str(k): str(v) for k, v in (body.get("personalisation") or {}).items()}
        subject, text = template.render(values)
        notification = Accepted(
            id=str(uuid.uuid4()),
            type=notification_type,
            template_id=template.id,
            recipient=str(body["phone_number" if notification_type == "sms" else "email_address"]),
            personalisation=values,
            reference=body.get("reference"),
            subject=subject,
            body=text,
            created_at=_now(),
        )
        with self._lock:
            self._accepted[notification.id] = notification
        return notification

    def _created(self, notification: Accepted) -> dict[str, object]:
        content: dict[str, object] = {"body": notification.body}
        if notification.type == "sms":
            content["from_number"] = "GOVUK"
        else:
            content.update(
                subject=notification.subject,
                from_email="mia@notifications.service.gov.uk",
                one_click_unsubscribe_url=None,
            )
        return {
            "id": notification.id,
            "reference": notification.reference,
            "content": content,
            "uri": f"{PUBLIC_URI}/v2/notifications/{notification.id}",
            "template": {
                "id": notification.template_id,
                "version": 1,
                "uri": f"{PUBLIC_URI}/v2/template/{notification.template_id}",
            },
        }

    async def _get_one(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return self._answered_with_error(request, refused)
        with self._lock:
            notification = self._accepted.get(request.match_info["id"])
        if notification is None:
            return self._answered_with_error(request, _error(404, "NoResultFound", "No result found"))
        return web.json_response(notification.as_notify_json(PUBLIC_URI))

    async def _get_many(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return self._answered_with_error(request, refused)
        reference = request.query.get("reference")
        found = [n for n in reversed(self.accepted) if reference is None or n.reference == reference]
        current = f"{PUBLIC_URI}/v2/notifications" + (f"?reference={reference}" if reference else "")
        return web.json_response(
            {"notifications": [n.as_notify_json(PUBLIC_URI) for n in found], "links": {"current": current}}
        )

    # -- running -----------------------------------------------------------------
    def start(self) -> NotifyContractServer:
        app = web.Application()
        app.router.add_post(r"/v2/notifications/{type:sms|email}", self._post)
        app.router.add_get("/v2/notifications/{id}", self._get_one)
        app.router.add_get("/v2/notifications", self._get_many)
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.SockSite(self._runner, self._socket).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="notify-contract", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Notify contract server did not start")
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> NotifyContractServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
