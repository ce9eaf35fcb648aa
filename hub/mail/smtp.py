"""Handing messages to the mail server over SMTP (`smtplib`), as `mail.smtp` in hub.yaml says:
STARTTLS or TLS with the system's certificate authorities, a login if one is configured.

The server's answer decides what happens to a message: accepted (sent), refused for good (a
5xx code: a wrong address, failed at once), or not now (a 4xx code, no connection, a time
out: tried again later).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from hub.config import Smtp


class Refused(Exception):
    """The server did not take a message: `final` if it said never (5xx)."""

    def __init__(self, error: str, *, final: bool) -> None:
        super().__init__(error)
        self.error = error
        self.final = final


def build(
    settings: Smtp, message_id: int, to_address: str, subject: str, body: str
) -> EmailMessage:
    """The e-mail of one queued message; its Message-ID names the queue row, so a copy sent
    twice (a crash between the server's answer and the mark) reads as the same message."""
    mail = EmailMessage()
    mail["From"] = formataddr((settings.sender_name, settings.sender))
    mail["To"] = to_address
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    domain = settings.sender.rpartition("@")[2]
    mail["Message-ID"] = make_msgid(idstring=f"queue-{message_id}", domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # no vacation replies to a machine
    mail.set_content(body)
    return mail


class Connection:
    """One SMTP session for a round of messages (`with Connection(settings) as smtp:`)."""

    def __init__(self, settings: Smtp) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Connection:
        settings = self.settings
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
            if settings.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout_s, context=context
                )
            else:
                smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
                if settings.security == "starttls":
                    smtp.starttls(context=context)
            password = settings.password()
            if settings.username is not None and password is not None:
                smtp.login(settings.username, password)
        except smtplib.SMTPResponseException as exc:
            raise Refused(_reply(exc.smtp_code, exc.smtp_error), final=False) from None
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise Refused(f"{settings.host}:{settings.port}: {exc}", final=False) from None
        self._smtp = smtp
        return self

    def send(self, mail: EmailMessage) -> None:
        """Returns once the server accepted the message; `Refused` otherwise."""
        assert self._smtp is not None, "use `with Connection(...)`"
        try:
            refused = self._smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise Refused(_reply(code, text), final=code >= 500) from None
        except smtplib.SMTPResponseException as exc:
            raise Refused(
                _reply(exc.smtp_code, exc.smtp_error), final=exc.smtp_code >= 500
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Refused(str(exc) or type(exc).__name__, final=False) from None
        if refused:  # one recipient per message: a partial refusal cannot happen, but be sure
            code, text = next(iter(refused.values()))
            raise Refused(_reply(code, text), final=code >= 500)

    def __exit__(self, *_: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {words}"
