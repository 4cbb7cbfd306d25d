"""A real SMTP server on loopback (aiosmtpd) that records what it received, for the email tests.

Security as a relay offers it: none, STARTTLS (required before MAIL) or
implicit TLS (smtps), with a self-signed certificate made for 127.0.0.1 and
localhost at test time (`cryptography`); AUTH (PLAIN and LOGIN, only over
TLS) with one user. It can refuse recipients (550 with the address quoted
back, as real servers do), refuse the message at the end of DATA, hang at
RCPT or after the message (the caller times out), or hold the n-th message
after accepting it, until released (where a SIGKILL makes SMTP's
exactly-once impossible). Each received message is parsed back with the
standard library, as a mail client would read it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USERNAME = "mia-relay"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Received:
    """One message as the server took it: the envelope, the raw bytes and the parsed email."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    over_tls: bool
    login: str | None

    @property
    def email(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        body = self.email.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content()).replace("\r\n", "\n")


@dataclass
class Hold:
    """The message to hold: accepted, then no answer until released. `held` is set once it is."""

    ordinal: int
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files in `directory`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class SmtpTestServer:
    """`with SmtpTestServer(tmp_path, security="starttls", auth=True) as smtp:`; `smtp.url` is MIA_SMTP_URL."""

    def __init__(self, directory: Path, *, security: str = "none", auth: bool = False) -> None:
        assert security in ("none", "starttls", "tls")
        self.security = security
        self.auth = auth
        self.port = free_port()
        self.cert_path, self.key_path = self_signed_certificate(directory)
        self.client_tls = ssl.create_default_context(cafile=str(self.cert_path))
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.refused_recipients: set[str] = set()
        self.refuse_message = False
        self.hang_at: str | None = None  # "RCPT" or "DATA"
        self.hold: Hold | None = None
        self._messages_seen = 0
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(self.cert_path, self.key_path)
        options: dict[str, object] = {"server_hostname": "smtp.test", "ready_timeout": 10.0}
        if security == "tls":
            options["ssl_context"] = server_tls
        elif security == "starttls":
            options.update(tls_context=server_tls, require_starttls=True)
        if auth:  # over implicit TLS the whole session is encrypted; aiosmtpd only knows STARTTLS as TLS
            options.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=security != "tls")
        self._controller = _QuietController(self, hostname="127.0.0.1", port=self.port, **options)

    @property
    def url(self) -> str:
        credentials = f"{USERNAME}:{PASSWORD.replace(' ', '%20')}@" if self.auth else ""
        if self.security == "tls":
            return f"smtps://{credentials}127.0.0.1:{self.port}"
        starttls = "true" if self.security == "starttls" else "false"
        return f"smtp://{credentials}127.0.0.1:{self.port}?starttls={starttls}"

    # -- what arrived ------------------------------------------------------------
    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return True
            time.sleep(0.05)
        return False

    def hold_at(self, ordinal: int) -> Hold:
        """The `ordinal`-th message from now is taken, and then the 250 is never sent until released."""
        with self._lock:
            self.hold = Hold(self._messages_seen + ordinal)
            return self.hold

    # -- aiosmtpd hooks ----------------------------------------------------------
    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        ):
            return AuthResult(success=True, auth_data=USERNAME)
        return AuthResult(success=False, handled=False)

    async def _wait(self, released: threading.Event | None = None, seconds: float | None = None) -> None:
        deadline = time.monotonic() + (seconds if seconds is not None else 3600)
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if released is not None and released.is_set():
                return
            await asyncio.sleep(0.02)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.hang_at == "RCPT":
            await self._wait()
            return "451 4.3.0 try again later"
        if address in self.refused_recipients:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_message:
            return "554 5.6.0 Message refused"
        raw = envelope.original_content or b""
        login = session.auth_data if isinstance(session.auth_data, str) else None
        with self._lock:
            self._messages_seen += 1
            self._received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw, _over_tls(server), login)
            )
            hold = self.hold if self.hold is not None and self.hold.ordinal == self._messages_seen else None
        if hold is not None:
            hold.held.set()
            await self._wait(hold.released)
        elif self.hang_at == "DATA":
            await self._wait()
        return f"250 2.0.0 Ok: queued as Q{self._messages_seen:05d}"

    # -- running -----------------------------------------------------------------
    def start(self) -> SmtpTestServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._controller.stop()

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietController(Controller):
    def factory(self) -> SMTP:
        """aiosmtpd warns of AUTH without STARTTLS even over implicit TLS, where everything is encrypted."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


def _over_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class SilentServer:
    """Accepts TCP connections and never says a word: an SMTP server that hangs before its greeting."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self.port = int(self._socket.getsockname()[1])

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._socket.close()
