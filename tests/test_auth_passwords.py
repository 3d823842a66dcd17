"""Password change and reset: strong new passwords, single-use expiring links, every other session ended."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, AuthToken, OutboxMessage, User, utcnow
from portal.vocab import Role
from tests.factories import PASSWORD, make_user

COOKIE = "encounters_session"
NEW_PASSWORD = "lantern orchard velvet 42"
SENT_MESSAGE = "If an account exists for that address, we&#39;ve sent a link"
LINK = re.compile(r"http://localhost/password/reset/([A-Za-z0-9_\-]+)")


def sign_in(client, email, password):
    return client.post("/login", data={"email": email, "password": password})


def signed_in_as(client):
    with client.session_transaction() as session:
        return session.get("_user_id")


def outbox(template):
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)).all()


def ask_for_reset(client, email) -> str | None:
    """Request a reset link and return its token, read from the queued message (None if none was queued)."""
    before = len(outbox("reset_password"))
    response = client.post("/password/forgot", data={"email": email}, follow_redirects=True)
    assert SENT_MESSAGE in response.get_data(as_text=True)
    messages = outbox("reset_password")
    if len(messages) == before:
        return None
    message = messages[-1]
    assert message.recipient == email
    [token] = set(LINK.findall(message.body_text))
    assert token in message.body_html
    return token


def test_change_password_keeps_this_session_and_ends_the_others(app, client, login):
    user = make_user(Role.PROVIDER)
    db.session.commit()
    login(user)
    other = app.test_client()
    with other.session_transaction() as session:
        session["_user_id"] = user.get_id()
    assert other.get("/account").status_code == 200
    old_cookie = client.get_cookie(COOKIE).value

    page = client.get("/account/password").get_data(as_text=True)
    assert 'autocomplete="current-password"' in page and 'autocomplete="new-password"' in page
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/account"

    assert client.get("/account").status_code == 200
    assert other.get("/account").headers["Location"].startswith("/login")
    client.set_cookie(COOKIE, old_cookie)
    assert client.get("/account").status_code == 302
    client.post("/logout")
    assert sign_in(client, user.email, NEW_PASSWORD).status_code == 302
    assert [m.recipient for m in outbox("password_changed")] == [user.email]
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "password.change"))


def test_a_coordinator_in_setup_keeps_the_setup_flag_after_changing_password(client, login):
    user = make_user(Role.COORDINATOR)
    db.session.commit()
    login(user, two_step_setup_required=True)
    client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert client.get("/").headers["Location"] == "/account/two-step"


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong current password", NEW_PASSWORD, NEW_PASSWORD, "Your current password is not right"),
        (PASSWORD, "short pass", "short pass", "Use at least 12 characters"),
        (PASSWORD, "password1234", "password1234", "too common or easy to guess"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords do not match"),
    ],
)
def test_change_password_refuses_bad_input(client, login, current, new, confirm, message):
    user = make_user(Role.PROVIDER)
    db.session.commit()
    login(user)
    old_hash = user.password_hash
    response = client.post("/account/password", data={
        "current_password": current, "new_password": new, "confirm": confirm})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.get(User, user.id).password_hash == old_hash


def test_new_password_may_not_contain_the_users_name(client, login):
    user = make_user(Role.PROVIDER, email="marigold@example.org")
    db.session.commit()
    login(user)
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "marigold garden 2024", "confirm": "marigold garden 2024"})
    assert "Do not use your name or email address" in response.get_data(as_text=True)


def test_forgot_password_answers_the_same_whoever_asks(client):
    make_user(Role.PROVIDER, email="known@example.org")
    make_user(Role.PROVIDER, email="pending@example.org", status="pending")
    make_user(Role.PROVIDER, email="disabled@example.org", status="disabled")
    db.session.commit()
    assert ask_for_reset(client, "known@example.org") is not None
    for email in ("nobody@example.org", "pending@example.org", "disabled@example.org"):
        assert ask_for_reset(client, email) is None, email
    [token] = db.session.scalars(select(AuthToken)).all()
    assert token.purpose == "reset_password"
    assert token.expires_at - utcnow() <= timedelta(hours=1)


def test_reset_link_works_once_and_ends_every_session(app, client, login):
    user = make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    signed_in = app.test_client()
    with signed_in.session_transaction() as session:
        session["_user_id"] = user.get_id()
    token = ask_for_reset(client, "p@example.org")
    stored = db.session.scalar(select(AuthToken))
    assert stored.token_hash != token and len(stored.token_hash) == 64

    page = client.get(f"/password/reset/{token}")
    assert page.status_code == 200 and 'autocomplete="new-password"' in page.get_data(as_text=True)
    weak = client.post(f"/password/reset/{token}", data={"password": "aaaaaaaaaaaaaaaa", "confirm": "aaaaaaaaaaaaaaaa"})
    assert "too common or easy to guess" in weak.get_data(as_text=True)

    response = client.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert signed_in.get("/account").headers["Location"].startswith("/login")
    assert sign_in(client, "p@example.org", PASSWORD).status_code == 200  # old password refused
    assert sign_in(client, "p@example.org", NEW_PASSWORD).status_code == 302
    client.post("/logout")

    again = client.get(f"/password/reset/{token}")
    assert again.status_code == 404 and "This link no longer works" in again.get_data(as_text=True)
    replay = client.post(f"/password/reset/{token}", data={"password": "another fine pass 9", "confirm":
                                                           "another fine pass 9"})
    assert replay.status_code == 404
    assert sign_in(client, "p@example.org", NEW_PASSWORD).status_code == 302


def test_an_expired_reset_link_is_refused(client):
    make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    token = ask_for_reset(client, "p@example.org")
    stored = db.session.scalar(select(AuthToken))
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/password/reset/{token}").status_code == 404
    response = client.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 404
    assert sign_in(client, "p@example.org", NEW_PASSWORD).status_code == 200


def test_a_made_up_reset_link_is_refused(client):
    assert client.get("/password/reset/not-a-real-token").status_code == 404


def test_changing_the_password_spends_outstanding_reset_links(client, login):
    user = make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    token = ask_for_reset(client, "p@example.org")
    login(user)
    client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert client.get(f"/password/reset/{token}").status_code == 404


def test_reset_mail_arrives_through_smtp_and_its_link_works(client, mailbox):
    make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    client.post("/password/forgot", data={"email": "p@example.org"})
    [message] = mailbox()
    assert message["To"] == "p@example.org"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    [token] = set(LINK.findall(text))
    assert token in html
    response = client.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.headers["Location"] == "/login"


def test_no_password_or_token_reaches_the_audit_log(client, login):
    user = make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    sign_in(client, "p@example.org", "a wrong password guess")
    sign_in(client, "correct horse battery staple", "typed into the wrong box")
    token = ask_for_reset(client, "p@example.org")
    client.post(f"/password/reset/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    login(db.session.get(User, user.id))
    client.post("/account/password", data={
        "current_password": NEW_PASSWORD, "new_password": "second new password 7", "confirm": "second new password 7"})
    events = db.session.scalars(select(AuditEvent)).all()
    assert {"login.failure", "password.reset_requested", "password.reset", "password.change"} <= {
        e.action for e in events}
    text = " ".join(f"{e.detail} {e.actor_email} {e.object_type}" for e in events)
    for secret in ("a wrong password guess", PASSWORD, "typed into the wrong box", token, NEW_PASSWORD,
                   "second new password 7"):
        assert secret not in text
