"""Email through an SMTP relay (a trust's own, or NHSmail): STARTTLS or implicit TLS, AUTH, one message a session.

The session is driven a command at a time (smtplib's `sendmail` would hide
the one moment that matters): after the server answers 354 to DATA,
`handing_over()` lets the dispatcher record that the server may now hold the
message, and only then does the message go. A crash before that moment
leaves nothing at the server; a crash between the final dot and the
dispatcher recording the 250 may leave a message the dispatcher cannot know
about (SMTP has no way to ask), so it is sent again with the same
Message-ID (README, "Exactly once"). The Message-ID is the outbox row's id,
which is also the provider id stored for it.

Certificates are verified (the system's CAs, or the context given); a
password never crosses a connection without TLS (the settings refuse that).
A whole session is bounded by one deadline, so a message in hand never
outlives the dispatcher's lease. Failures: a 4xx reply, a timeout or a lost
connection is temporary; a 5xx reply is permanent, with a reason a clinician
(or for the server's own settings, an administrator) can act on. No
recipient address and no reply text goes into a failure's detail: some
servers quote the address back.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import time
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from shared.config.messaging import SmtpTarget
from shared.notifications.channels.base import HandingOver, Outgoing, PermanentFailure, TemporaryFailure

PROVIDER = "smtp"
SENDER_NAME = "MIA"  # the From name of clinicians' alerts; patient email comes from the organisation's name
MAX_PROVIDER_ID = 100
QUIT_SECONDS = 2

RECIPIENT_REFUSED = "The mail server refused this email address. Check it, or send the link by text instead."
SENDER_REFUSED = (
    "The mail server refused MIA's sender address. Ask your administrator to check MIA_MAIL_FROM "
    "and the mail relay's settings."
)
MESSAGE_REFUSED = "The mail server refused the message. Ask your administrator to look at the notifications log."
SIGN_IN_REFUSED = "The mail server refused MIA's user name or password. Ask your administrator to check MIA_SMTP_URL."
NO_TLS = (
    "The mail server does not offer an encrypted connection (STARTTLS), so MIA did not send. "
    "Ask your administrator to check MIA_SMTP_URL."
)
NO_SIGN_IN = "The mail server does not offer sign-in (AUTH). Ask your administrator to check MIA_SMTP_URL."
ADDRESS_NOT_ASCII = (
    "The mail server cannot take an address with these characters. Send the link by text instead, "
    "or use another email address."
)
_ENHANCED_CODE = re.compile(rb"^\d\.\d{1,3}\.\d{1,3}")


def _reply_detail(stage: str, code: int, reply: bytes | str | None) -> str:
    """`smtp 550 5.1.1 at RCPT`: the codes only; the reply's words may quote the address."""
    raw = reply if isinstance(reply, bytes) else (reply or "").encode()
    enhanced = _ENHANCED_CODE.match(raw.strip())
    return f"smtp {code}{' ' + enhanced.group().decode() if enhanced else ''} at {stage}"


def _reply_failure(stage: str, code: int, reply: bytes | str | None, refused: str) -> Exception:
    detail = _reply_detail(stage, code, reply)
    if 500 <= code < 600:
        return PermanentFailure(refused, detail)
    return TemporaryFailure(detail)


class SmtpChannel:
    """One SMTP relay, as MIA_SMTP_URL names it, sending as MIA_MAIL_FROM."""

    provider = PROVIDER
    can_look_up_references = False

    def __init__(
        self, target: SmtpTarget, mail_from: str, timeout: float, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._target = target
        self._mail_from = mail_from
        self._timeout = timeout
        self._tls = tls_context or ssl.create_default_context()

    def accepted_earlier(self, notification_id: str) -> str | None:
        """SMTP cannot say whether a server holds a message; the dispatcher never asks (can_look_up_references)."""
        return None

    def message_id(self, notification_id: str) -> str:
        """`<row id@sender's domain>`: the same on every attempt, so a repeat can be recognised."""
        return f"{notification_id}@{self._mail_from.rpartition('@')[2]}"

    def build(self, outgoing: Outgoing) -> EmailMessage:
        """The email as it will be received: plain text, the organisation (or MIA) as the sender's name."""
        message = outgoing.message
        email = EmailMessage()
        email["From"] = Address(display_name=message.organisation or SENDER_NAME, addr_spec=self._mail_from)
        email["To"] = outgoing.recipient
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = f"<{self.message_id(outgoing.notification_id)}>"
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to MIA
        email.set_content(message.text)
        return email

    def send(self, outgoing: Outgoing, handing_over: HandingOver) -> str:
        email = self.build(outgoing)
        needs_utf8 = not (outgoing.recipient + self._mail_from).isascii()
        payload = email.as_bytes(policy=policy.SMTPUTF8 if needs_utf8 else policy.SMTP)
        deadline = time.monotonic() + self._timeout
        stage = "connect"
        session: smtplib.SMTP | None = None
        try:
            session = self._connect(deadline)
            stage = "EHLO"
            self._within(session, deadline)
            _expect(stage, session.ehlo(), (250,), MESSAGE_REFUSED)
            if self._target.security == "starttls":
                if not session.has_extn("starttls"):
                    raise PermanentFailure(NO_TLS, "smtp server offers no STARTTLS")
                stage = "STARTTLS"
                self._within(session, deadline)
                session.starttls(context=self._tls)
                self._within(session, deadline)
                _expect("EHLO", session.ehlo(), (250,), MESSAGE_REFUSED)
            if self._target.username:
                if not session.has_extn("auth"):
                    raise PermanentFailure(NO_SIGN_IN, "smtp server offers no AUTH")
                stage = "AUTH"
                self._within(session, deadline)
                session.login(self._target.username, self._target.password or "")
            if needs_utf8 and not session.has_extn("smtputf8"):
                raise PermanentFailure(ADDRESS_NOT_ASCII, "smtp server offers no SMTPUTF8")
            options = ["SMTPUTF8", "BODY=8BITMIME"] if needs_utf8 else []
            stage = "MAIL"
            self._within(session, deadline)
            _expect(stage, session.mail(self._mail_from, options), (250,), SENDER_REFUSED)
            stage = "RCPT"
            self._within(session, deadline)
            _expect(stage, session.rcpt(outgoing.recipient), (250, 251), RECIPIENT_REFUSED)
            stage = "DATA"
            self._within(session, deadline)
            _expect(stage, session.docmd("DATA"), (354,), MESSAGE_REFUSED)
            handing_over()
            stage = "end of data"
            self._within(session, deadline)
            session.send(_dot_stuffed(payload))
            _expect(stage, session.getreply(), (250,), MESSAGE_REFUSED)
            _say_goodbye(session)
        except (PermanentFailure, TemporaryFailure):
            raise
        except smtplib.SMTPAuthenticationError as error:
            raise PermanentFailure(SIGN_IN_REFUSED, _reply_detail(stage, error.smtp_code, error.smtp_error)) from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentFailure(MESSAGE_REFUSED, f"smtp server does not support what {stage} needs") from None
        except smtplib.SMTPResponseException as error:
            raise _reply_failure(stage, error.smtp_code, error.smtp_error, MESSAGE_REFUSED) from None
        except ssl.SSLCertVerificationError as error:
            raise TemporaryFailure(f"smtp TLS certificate not trusted at {stage}: {error.verify_message}") from None
        except ssl.SSLError as error:
            raise TemporaryFailure(f"smtp TLS failed at {stage}: {error.reason}") from None
        except (TimeoutError, OSError) as error:  # smtplib's disconnections are OSErrors too
            raise TemporaryFailure(f"smtp {type(error).__name__} at {stage}") from None
        finally:
            if session is not None:
                session.close()
        message_id = self.message_id(outgoing.notification_id)
        return message_id if len(message_id) <= MAX_PROVIDER_ID else outgoing.notification_id

    def _connect(self, deadline: float) -> smtplib.SMTP:
        remaining = max(0.1, deadline - time.monotonic())
        target = self._target
        if target.security == "tls":
            return smtplib.SMTP_SSL(target.host, target.port, timeout=remaining, context=self._tls)
        return smtplib.SMTP(target.host, target.port, timeout=remaining)

    def _within(self, session: smtplib.SMTP, deadline: float) -> None:
        """Every step waits only for what is left of the session's deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TemporaryFailure(f"smtp session took longer than {self._timeout:g} s")
        if session.sock is not None:
            session.sock.settimeout(remaining)


def _dot_stuffed(payload: bytes) -> bytes:
    """RFC 5321 §4.5.2: a line starting with '.' gets another; then the end-of-data line."""
    body = re.sub(rb"(?m)^\.", b"..", payload)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _expect(stage: str, answer: tuple[int, bytes], accepted: tuple[int, ...], refused: str) -> None:
    code, reply = answer
    if code not in accepted:
        raise _reply_failure(stage, code, reply, refused)


def _say_goodbye(session: smtplib.SMTP) -> None:
    """QUIT after the message was accepted; a server that does not answer it changes nothing."""
    try:
        if session.sock is not None:
            session.sock.settimeout(QUIT_SECONDS)
        session.docmd("QUIT")
    except (smtplib.SMTPException, OSError):
        pass
