"""A real SMTP server for the tests (aiosmtpd) on a loopback port, keeping what it received.

It can stop and start again on the same port: the hub sees a mail server go down and come
back, as it would a real one.

>>> server = MailServer(); server.start(); …; server.inbox("lea@example.fr")  # doctest: +SKIP
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from deploy.local_broker import make_certificates
from tests.servers import free_port


class _Keep:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """`nobody@…` does not exist: refused for good, as a real server would."""
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.server.lock:
            for recipient in envelope.rcpt_tos:
                self.server.received.append((recipient, message))
        return "250 Message accepted for delivery"


class MailServer:
    """Plain SMTP; or, given a folder for its certificates, STARTTLS (`security`
    "starttls") or TLS from the first byte ("tls"), with a login required over TLS."""

    def __init__(
        self,
        certificates: Path | None = None,
        security: Literal["starttls", "tls"] = "starttls",
        login: tuple[str, str] = ("alertes", "mot de passe du relais"),
    ) -> None:
        self.port = free_port()
        self.received: list[tuple[str, EmailMessage]] = []
        self.lock = threading.Lock()
        self.certificates = certificates
        self.security = security
        self.login = login
        self._controller: Controller | None = None
        if certificates is not None:
            make_certificates(certificates)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        given = (
            (data.login.decode(), data.password.decode())
            if isinstance(data, LoginPassword)
            else None
        )
        return AuthResult(success=given == self.login, handled=False)

    def start(self) -> None:
        if self.certificates is None:
            self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        else:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(
                self.certificates / "server.crt", self.certificates / "server.key"
            )
            # aiosmtpd sees only STARTTLS as TLS: over TLS from the first byte, it must be
            # told that a login is fine (it is: nothing travels in clear).
            tls: dict[str, Any] = (
                {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
                if self.security == "starttls"
                else {"ssl_context": context, "auth_require_tls": False}
            )
            self._controller = Controller(
                _Keep(self),
                hostname="127.0.0.1",
                port=self.port,
                authenticator=self._authenticate,
                **tls,
            )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def inbox(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [message for to, message in self.received if to == address]

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The hub's `mail` config for this server, quick to retry (tests wait on outcomes)."""
        return {
            "smtp": {
                "host": "127.0.0.1",
                "port": self.port,
                "security": "none",
                "sender": "alertes@cybercantal.example",
            },
            "poll_s": 0.2,
            "retry_first_s": 0.5,
            "retry_max_s": 1,
            **extra,
        }
