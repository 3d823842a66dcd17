"""The mail outbox: delivery through a real SMTP server, retries, and exactly-once marking."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, OutboxStatus, utcnow
from portal.services import outbox
from portal.services.mail import queue_mail
from tests import factories
from tests.smtp import free_port, text_body


def _queue(n: int = 1) -> list[OutboxMessage]:
    """Queue `n` account_disabled messages to distinct recipients and commit them."""
    users = [factories.make_user(name=f"Person {i}") for i in range(n)]
    messages = [
        queue_mail(user.email, "Your Encounters account has been disabled", "account_disabled", user=user)
        for user in users
    ]
    db.session.commit()
    return messages


def _messages() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_queued_mail_arrives_with_text_and_html_parts(app, smtp_server):
    [message] = _queue()

    result = outbox.send_pending()

    assert result == outbox.SendResult(sent=1, failed=0, gave_up=0)
    [received] = smtp_server.messages
    assert received["To"] == message.recipient
    assert received["Subject"] == "Your Encounters account has been disabled"
    assert received["From"] == app.config["MAIL_DEFAULT_SENDER"]
    assert "has been disabled by an administrator" in text_body(received)
    html = received.get_body(preferencelist=("html",)).get_content()
    assert "<strong>" + message.recipient + "</strong>" in html
    [stored] = _messages()
    assert stored.status == OutboxStatus.SENT
    assert stored.sent_at is not None
    assert stored.claimed_until is None


def test_a_mail_is_rendered_from_what_it_is_given_alone(app, monkeypatch):
    """Queued from a signed-in request or from the CLI, a mail reads the same, and rendering it never works out
    the page's template context (the navigation: a decision mails both sides while it holds the write lock)."""
    from flask_login import login_user

    import portal.navigation

    user = factories.make_user(name="Nell Named", email="nell@example.org")
    db.session.commit()
    outside = queue_mail(user.email, "Disabled", "account_disabled", user=user)

    def no_navigation(*args, **kwargs):
        raise AssertionError("a mail worked out the page navigation")

    monkeypatch.setattr(portal.navigation, "nav_for", no_navigation)
    with app.test_request_context("/admin/users"):
        login_user(user)
        inside = queue_mail(user.email, "Disabled", "account_disabled", user=user)
    assert (inside.body_text, inside.body_html) == (outside.body_text, outside.body_html)
    assert "Nell Named" in inside.body_text and "<strong>nell@example.org</strong>" in inside.body_html
    db.session.rollback()


def test_a_rolled_back_change_sends_nothing(app, smtp_server):
    user = factories.make_user()
    db.session.commit()
    queue_mail(user.email, "Disabled", "account_disabled", user=user)
    db.session.rollback()

    assert outbox.send_pending() == outbox.SendResult()
    assert smtp_server.messages == []
    assert _messages() == []


def test_sending_twice_delivers_each_message_once(app, smtp_server):
    _queue(3)

    assert outbox.send_pending().sent == 3
    assert outbox.send_pending().sent == 0
    assert outbox.send_pending(now=utcnow() + timedelta(days=1)).sent == 0

    assert sorted(m["To"] for m in smtp_server.messages) == sorted(m.recipient for m in _messages())
    assert len(smtp_server.messages) == 3


def test_limit_and_order(app, smtp_server):
    queued = _queue(3)

    assert outbox.send_pending(limit=2).sent == 2
    assert [m["To"] for m in smtp_server.messages] == [queued[0].recipient, queued[1].recipient]
    assert [m.status for m in _messages()] == [OutboxStatus.SENT, OutboxStatus.SENT, OutboxStatus.PENDING]


def test_a_refusing_relay_loses_nothing_and_it_is_delivered_later(app, smtp_server):
    _queue(2)
    smtp_server.refuse = True
    start = utcnow()

    result = outbox.send_pending(now=start)

    assert result == outbox.SendResult(sent=0, failed=2, gave_up=0)
    assert smtp_server.messages == []
    for message in _messages():
        assert message.status == OutboxStatus.PENDING
        assert message.attempts == 1
        assert message.next_attempt_at == start + timedelta(minutes=1)
        assert message.claimed_until is None
        assert "451" in message.last_error

    smtp_server.refuse = False
    assert outbox.send_pending(now=start).sent == 0  # backing off: not due yet
    assert smtp_server.messages == []

    assert outbox.send_pending(now=start + timedelta(minutes=1)).sent == 2
    assert outbox.send_pending(now=start + timedelta(hours=2)).sent == 0
    assert len(smtp_server.messages) == 2
    assert {m.status for m in _messages()} == {OutboxStatus.SENT}


def test_an_unreachable_relay_loses_nothing(app, smtp_server):
    _queue(2)
    app.extensions["mail"].port = free_port()  # nothing listens there
    start = utcnow()

    result = outbox.send_pending(now=start)

    assert result.sent == 0 and result.failed == 1  # the run stops at the first refused connection
    first, second = _messages()
    assert (first.status, first.attempts) == (OutboxStatus.PENDING, 1)
    assert first.next_attempt_at > start
    assert first.last_error.startswith("ConnectionRefusedError")
    assert (second.status, second.attempts, second.claimed_until) == (OutboxStatus.PENDING, 0, None)

    app.extensions["mail"].port = smtp_server.port
    assert outbox.send_pending(now=start + timedelta(minutes=1)).sent == 2
    assert len(smtp_server.messages) == 2


def test_backoff_doubles_up_to_an_hour():
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 6, 7, 12)] == [
        timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
        timedelta(minutes=32), timedelta(hours=1), timedelta(hours=1),
    ]


def test_gives_up_after_the_maximum_attempts(app, smtp_server):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    _queue()
    smtp_server.refuse = True
    clock = utcnow()

    results = []
    for _ in range(3):
        results.append(outbox.send_pending(now=clock))
        clock += timedelta(hours=1)

    assert [(r.failed, r.gave_up) for r in results] == [(1, 0), (1, 0), (0, 1)]
    [message] = _messages()
    assert message.status == OutboxStatus.FAILED
    assert message.attempts == 3
    smtp_server.refuse = False
    assert outbox.send_pending(now=clock + timedelta(days=1)) == outbox.SendResult()
    assert smtp_server.messages == []


def test_a_message_that_cannot_be_built_is_given_up_without_blocking_the_rest(app, smtp_server):
    bad = OutboxMessage(recipient="a@example.org", subject="Injected\nBcc: b@example.org", template="x",
                        body_text="t", body_html="<p>t</p>")
    db.session.add(bad)
    db.session.commit()
    [good] = _queue()

    assert outbox.send_pending() == outbox.SendResult(sent=1, failed=0, gave_up=1)
    assert [m["To"] for m in smtp_server.messages] == [good.recipient]
    assert _messages()[0].status == OutboxStatus.FAILED


def test_a_message_claimed_by_another_sender_is_left_alone(app, smtp_server):
    [message] = _queue()
    message.claimed_until = utcnow() + timedelta(minutes=5)
    db.session.commit()

    assert outbox.send_pending().sent == 0
    assert smtp_server.messages == []
    # A claim that expired (its sender died) is taken over.
    assert outbox.send_pending(now=utcnow() + timedelta(minutes=6)).sent == 1


def test_two_concurrent_senders_never_deliver_a_message_twice(app, smtp_server):
    _queue(30)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sender():
        try:
            with app.app_context():
                barrier.wait()
                results.append(outbox.send_pending())
                db.session.remove()
        except Exception as error:  # surfaced below: an exception in a thread would pass silently
            errors.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.sent for r in results) == 30
    recipients = [m["To"] for m in smtp_server.messages]
    assert len(recipients) == len(set(recipients)) == 30
    assert {m.status for m in _messages()} == {OutboxStatus.SENT}


@pytest.mark.parametrize("refuse, expected", [(False, "sent 2, failed 0, gave up 0"),
                                              (True, "sent 0, failed 2, gave up 0")])
def test_cli_prints_the_counts(app, runner, smtp_server, refuse, expected):
    _queue(2)
    smtp_server.refuse = refuse

    result = runner.invoke(args=["outbox", "send"])

    assert result.exit_code == 0, result.output
    assert expected in result.output
