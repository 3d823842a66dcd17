"""Signing in and out: one message for every wrong guess, safe `next`, sessions that really end, a rate limit."""
import pytest
from sqlalchemy import select

from portal import create_app
from portal.auth.web import is_safe_next
from portal.extensions import db, limiter
from portal.models import AuditEvent, User
from portal.services import passwords
from portal.services.auth import WRONG_CREDENTIALS
from portal.vocab import Role
from tests.factories import PASSWORD, make_user

COOKIE = "encounters_session"


def sign_in(client, email, password=PASSWORD, next_url=None):
    path = "/login" if next_url is None else "/login?" + _query(next=next_url)
    return client.post(path, data={"email": email, "password": password})


def _query(**values):
    from urllib.parse import urlencode

    return urlencode(values)


def signed_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def events(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_sign_in_with_the_right_password(client):
    user = make_user(Role.PROVIDER, email="Ada@Example.org")
    db.session.commit()
    response = sign_in(client, "  ADA@example.org ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert signed_in_as(client) == user.get_id()
    assert db.session.get(User, user.id).last_login_at is not None
    [event] = events("login.success")
    assert event.actor_id == user.id
    assert event.area_id == user.organisation.area_id
    assert event.ip == "127.0.0.1"


def test_the_sign_in_page_works_without_javascript(client):
    page = client.get("/login").get_data(as_text=True)
    assert "<h1>Sign in</h1>" in page
    assert 'autocomplete="email"' in page and 'autocomplete="current-password"' in page
    assert "<script" not in page
    assert 'style="' not in page


def test_unknown_email_and_wrong_password_get_the_same_answer(client):
    make_user(Role.PROVIDER, email="known@example.org")
    db.session.commit()
    wrong_password = sign_in(client, "known@example.org", "not the password at all")
    unknown_email = sign_in(client, "nobody@example.org", "not the password at all")
    assert wrong_password.status_code == unknown_email.status_code == 200
    assert WRONG_CREDENTIALS in wrong_password.get_data(as_text=True)
    # Apart from the address typed back into the field, the two pages are identical.
    first = wrong_password.get_data(as_text=True).replace("known@example.org", "EMAIL")
    second = unknown_email.get_data(as_text=True).replace("nobody@example.org", "EMAIL")
    assert first == second
    assert signed_in_as(client) is None
    failures = events("login.failure")
    assert [e.detail for e in failures] == ["email: known@example.org", "email: nobody@example.org"]


def test_unknown_email_is_checked_against_a_dummy_hash(client, monkeypatch):
    """So a miss costs the same scrypt work as a wrong password, and timing tells nothing."""
    checked = []

    def spy(password_hash, password):
        checked.append(password_hash)
        return False

    monkeypatch.setattr("portal.services.auth.verify_password", spy)
    sign_in(client, "nobody@example.org", "whatever it is")
    assert checked == [passwords.dummy_hash()]


@pytest.mark.parametrize(
    ("status", "confirmed", "message"),
    [
        ("pending", False, "Confirm your email address first"),
        ("pending", True, "waiting for a coordinator to verify"),
        ("rejected", True, "This account cannot sign in"),
        ("disabled", True, "This account cannot sign in"),
    ],
)
def test_accounts_that_cannot_be_used_say_why_only_after_the_right_password(client, status, confirmed, message):
    make_user(Role.PROVIDER, email="someone@example.org", status=status, confirmed=confirmed)
    db.session.commit()
    wrong = sign_in(client, "someone@example.org", "not the password at all").get_data(as_text=True)
    assert WRONG_CREDENTIALS in wrong and message not in wrong
    right = sign_in(client, "someone@example.org", PASSWORD)
    assert right.status_code == 200
    assert message in right.get_data(as_text=True)
    assert signed_in_as(client) is None
    assert events("login.success") == []


HOSTILE_NEXT = [
    "//evil.com",
    "//evil.com/path",
    "https://evil.com",
    "http://evil.com/account",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/%0d%0aSet-Cookie:x=1",
    "/\r\nSet-Cookie:x=1",
    " //evil.com",
    "\t//evil.com",
    "/\t/evil.com",
    "/%2f%2fevil.com",
    "/%5cevil.com",
    "///evil.com",
    "evil.com",
    "account",
    "",
    None,
]


@pytest.mark.parametrize("url", HOSTILE_NEXT)
def test_is_safe_next_refuses_hostile_values(url):
    assert is_safe_next(url) is False


@pytest.mark.parametrize("url", ["/", "/account", "/organisations?page=2&q=a+b", "/organisations/3/edit#top"])
def test_is_safe_next_accepts_local_paths(url):
    assert is_safe_next(url) is True


@pytest.mark.parametrize("url", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_sign_in_ignores_a_hostile_next(client, url):
    make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    response = sign_in(client, "p@example.org", next_url=url)
    assert response.headers["Location"] == "/"


def test_sign_in_follows_a_local_next(client):
    make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    response = sign_in(client, "p@example.org", next_url="/account?tab=security")
    assert response.headers["Location"] == "/account?tab=security"


def test_a_signed_out_visit_comes_back_after_sign_in(client):
    make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    response = client.get("/account/password")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account/password"
    assert client.post(response.headers["Location"], data={"email": "p@example.org", "password": PASSWORD}
                       ).headers["Location"] == "/account/password"


def test_logout_is_post_only(client, login):
    login(make_user(Role.PROVIDER))
    db.session.commit()
    assert client.get("/logout").status_code == 405


def test_logout_ends_the_session_so_a_replayed_cookie_is_refused(client):
    user = make_user(Role.PROVIDER, email="p@example.org")
    db.session.commit()
    sign_in(client, "p@example.org")
    assert client.get("/account").status_code == 200
    old_cookie = client.get_cookie(COOKIE).value

    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_as(client) is None
    [event] = events("logout")
    assert event.actor_id == user.id

    client.set_cookie(COOKIE, old_cookie)
    replay = client.get("/account")
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login")


def test_disabling_an_account_ends_its_sessions(client, login):
    user = make_user(Role.CAREERS_LEAD)
    db.session.commit()
    login(user)
    assert client.get("/account").status_code == 200
    user.status = "disabled"
    db.session.commit()
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_signed_in_visit_to_login_goes_home(client, login):
    login(make_user(Role.PROVIDER))
    db.session.commit()
    response = client.get("/login?next=//evil.com")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_account_page_shows_who_you_are(client, login):
    user = make_user(Role.CAREERS_LEAD, name="Grace Hopper")
    db.session.commit()
    login(user)
    page = client.get("/account").get_data(as_text=True)
    assert "<h1>Your account</h1>" in page
    for text in ("Grace Hopper", user.email, "Careers lead", user.organisation.name, "Set up two-step sign-in"):
        assert text in page


def test_sign_in_is_rate_limited(database):
    """The fourth POST within a minute from one address is refused; reading the page still works."""
    was_enabled = limiter.enabled  # the limiter is a module-level singleton: leave it as found
    app = create_app("testing", {**database, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "3 per minute"})
    try:
        limiter.reset()
        client = app.test_client()
        answers = [sign_in(client, "nobody@example.org", "wrong guess number x").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        assert "Too many attempts" in sign_in(client, "nobody@example.org", "again").get_data(as_text=True)
        assert client.get("/login").status_code == 200
        other_address = client.post("/login", data={"email": "a@example.org", "password": "x"},
                                    environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert other_address.status_code == 200
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
