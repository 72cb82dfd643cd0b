"""Email over SMTP (``smtplib``): a multipart text + html message per send.

A 5xx reply is permanent (an unknown mailbox stays unknown); 4xx replies, refused
connections and timeouts are worth another attempt. The ``Message-ID`` is derived from the
message id, so a resend after a crash carries the same one and receivers can drop it.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage

from nextbest.channels.message import DeliveryResult, OutboundMessage, Rendered
from nextbest.config import Settings

ID_HEADER = "X-Nextbest-Message-Id"


def message_id_header(message_id: str, domain: str = "nextbest") -> str:
    """An RFC 5322 Message-ID fixed by our message id.

    >>> message_id_header("j:abc:1") == message_id_header("j:abc:1")
    True
    >>> message_id_header("j:abc:1").endswith("@nextbest>")
    True
    """
    return f"<{hashlib.sha256(message_id.encode()).hexdigest()[:32]}@{domain}>"


def build_email(
    rendered: Rendered, message: OutboundMessage, *, sender: str, to: str
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = rendered.subject
    mail["Message-ID"] = message_id_header(message.message_id)
    mail[ID_HEADER] = message.message_id
    mail.set_content(rendered.text)
    if rendered.html:
        mail.add_alternative(rendered.html, subtype="html")
    return mail


class SmtpAdapter:
    """One SMTP connection per send: simple, and nothing to go stale between batches."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpAdapter:
        return cls(
            host=settings.smtp_host or "localhost",
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
        )

    def send(
        self, rendered: Rendered, message: OutboundMessage, address: str | None
    ) -> DeliveryResult:
        if not address:
            return DeliveryResult.failed("no email address", retryable=False)
        mail = build_email(rendered, message, sender=self.sender, to=address)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return DeliveryResult.failed(
                f"SMTP refused {address}: {exc.recipients}",
                retryable=not any(code >= 500 for code in codes),
            )
        except smtplib.SMTPResponseException as exc:
            err = exc.smtp_error
            reply = err.decode(errors="replace") if isinstance(err, bytes) else str(err or "")
            return DeliveryResult.failed(
                f"SMTP {exc.smtp_code} {reply}".strip(), retryable=exc.smtp_code < 500
            )
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult.failed(f"SMTP {type(exc).__name__}: {exc}", retryable=True)
        return DeliveryResult.delivered(mail["Message-ID"])
