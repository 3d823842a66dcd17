"""Delivering the mail outbox (`flask outbox send`).

Messages are written by services.mail.queue_mail in the same transaction as the change that
causes them; this module sends the ones that are due, through Flask-Mail.

Unlike every other service, `send_pending` commits more than once, by design: each message is
its own unit of work. A message is first *claimed* with a conditional UPDATE that only one
sender can win (so two `flask outbox send` runs never deliver it twice), the claim is
committed, the message is sent, and then it is marked sent in a second commit. A failure
(relay down, 4xx answer, dropped connection, timeout) loses nothing: the message stays
pending with `attempts` + 1 and a backed-off `next_attempt_at`; after OUTBOX_MAX_ATTEMPTS it
is marked failed and kept for a person to look at.

The one window left is a crash between the relay accepting a message and the "sent" commit:
the claim then expires and the message is sent again. SMTP offers nothing better.
"""
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_mail import BadHeaderError, Connection, Message
from sqlalchemy import or_, select, update

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow

CLAIM_FOR = timedelta(minutes=5)  # far longer than one SMTP exchange (MAIL_TIMEOUT bounds that)
FIRST_RETRY_AFTER = timedelta(minutes=1)
MAX_RETRY_AFTER = timedelta(hours=1)
MAX_ERROR_LENGTH = 200

# What a relay that is down, slow or unhappy raises: retry later. (socket timeouts are OSErrors.)
DELIVERY_ERRORS = (smtplib.SMTPException, OSError)


@dataclass(frozen=True)
class SendResult:
    sent: int = 0
    failed: int = 0  # failed this time, will be retried
    gave_up: int = 0  # failed for the last time, or can never be sent: status is now failed


class _RelayUnreachable(Exception):
    """Opening the SMTP connection failed: stop this run rather than time out once per message."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class _TimedConnection(Connection):
    """Flask-Mail's connection, with MAIL_TIMEOUT on the socket (Flask-Mail 0.10 sets none,
    so a relay that accepts the connection and then says nothing would hang the run)."""

    def configure_host(self) -> smtplib.SMTP:
        timeout = current_app.config.get("MAIL_TIMEOUT", 10)
        smtp_class = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp_class(self.mail.server, self.mail.port, timeout=timeout)
        try:
            if self.mail.use_tls:
                host.starttls()
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the n-th failed attempt: 1, 2, 4, 8... minutes, at most an hour."""
    return min(FIRST_RETRY_AFTER * 2 ** max(attempts - 1, 0), MAX_RETRY_AFTER)


def _due(now: datetime):
    return (
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


def _claim(message_id: int, now: datetime) -> bool:
    """Take the message for this sender, or learn that another sender has it. Commits."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, *_due(now))
        .values(claimed_until=now + CLAIM_FOR)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _build(message: OutboxMessage) -> Message:
    built = Message(
        subject=message.subject,
        recipients=[message.recipient],
        body=message.body_text,
        html=message.body_html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    if built.has_bad_headers():
        raise BadHeaderError("newline in a header")
    return built


def _describe(error: BaseException) -> str:
    """A short reason for last_error: the error's kind and the relay's answer, never credentials."""
    if isinstance(error, smtplib.SMTPResponseException):
        answer = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else str(
            error.smtp_error
        )
        text = f"{type(error).__name__}: {error.smtp_code} {answer.splitlines()[0] if answer else ''}"
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = ", ".join(str(code) for code, _ in error.recipients.values())
        text = f"{type(error).__name__}: {codes}"
    elif isinstance(error, OSError):
        text = f"{type(error).__name__}: {error.strerror or error}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text.strip()[:MAX_ERROR_LENGTH]


def _record_failure(message: OutboxMessage, error: BaseException, now: datetime, *, permanent: bool) -> bool:
    """Count a failed attempt and release the claim. Commits. Returns True if we gave up."""
    message.attempts += 1
    message.last_error = _describe(error)
    message.claimed_until = None
    gave_up = permanent or message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]
    if gave_up:
        message.status = OutboxStatus.FAILED
    else:
        message.next_attempt_at = now + retry_delay(message.attempts)
    db.session.commit()
    return gave_up


def _close(connection: Connection | None) -> None:
    if connection is None or connection.host is None:
        return
    try:
        connection.host.quit()
    except DELIVERY_ERRORS:
        connection.host.close()


def send_pending(limit: int = 200, now: datetime | None = None) -> SendResult:
    """Send up to `limit` due messages, oldest first; each is claimed, sent and marked on its own.

    `now` fixes the clock (tests move it forward); by default each step uses the real time.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    due_ids = db.session.scalars(
        select(OutboxMessage.id).where(*_due(clock())).order_by(OutboxMessage.id).limit(limit)
    ).all()
    db.session.commit()  # end the read; every claim below starts from fresh data

    sent = failed = gave_up = 0
    connection: Connection | None = None
    try:
        for message_id in due_ids:
            if not _claim(message_id, clock()):
                continue  # another sender has it, or it was sent meanwhile
            message = db.session.get(OutboxMessage, message_id)
            try:
                built = _build(message)
            except Exception as error:  # a message that cannot be built now never will be: give up
                _record_failure(message, error, clock(), permanent=True)
                gave_up += 1
                continue
            try:
                if connection is None:
                    connection = _open()
                connection.send(built)
            except _RelayUnreachable as unreachable:
                if _record_failure(message, unreachable.error, clock(), permanent=False):
                    gave_up += 1
                else:
                    failed += 1
                break  # the rest stay pending and due: the next run tries them
            except DELIVERY_ERRORS as error:
                if not isinstance(error, smtplib.SMTPResponseException) or isinstance(
                    error, smtplib.SMTPServerDisconnected
                ):
                    _close(connection)  # the connection may be dead; the next message opens a new one
                    connection = None
                if _record_failure(message, error, clock(), permanent=False):
                    gave_up += 1
                else:
                    failed += 1
                continue
            message.status = OutboxStatus.SENT
            message.sent_at = clock()
            message.claimed_until = None
            db.session.commit()
            sent += 1
    finally:
        _close(connection)
    return SendResult(sent=sent, failed=failed, gave_up=gave_up)


def _open() -> Connection:
    connection = _TimedConnection(current_app.extensions["mail"])
    try:
        return connection.__enter__()
    except DELIVERY_ERRORS as error:
        raise _RelayUnreachable(error) from error
