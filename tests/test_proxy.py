"""Behind a reverse proxy: X-Forwarded-For names the client only when the operator says how many proxies there are.

Without TRUSTED_PROXY_COUNT anyone could claim any address (and dodge the sign-in rate limit, or write a false
address into the audit log), so the header is ignored and the client is the peer that connected.
"""
import pytest
from sqlalchemy import select

import config
from portal import create_app
from portal.extensions import db, limiter
from portal.models import AuditEvent
from tests.factories import PASSWORD, make_user

PROXY = "10.0.0.2"  # the peer address the app sees: the proxy, or a client connecting directly
CLIENT = "203.0.113.7"  # the address the proxy appended to X-Forwarded-For
CLAIMED = "198.51.100.1"  # what the client itself put in X-Forwarded-For: never to be believed


def _sign_in(client, email, password=PASSWORD, forwarded_for=f"{CLAIMED}, {CLIENT}"):
    return client.post("/login", data={"email": email, "password": password},
                       headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"},
                       environ_base={"REMOTE_ADDR": PROXY})


def _sign_in_addresses() -> list[str | None]:
    return list(db.session.scalars(select(AuditEvent.ip).where(AuditEvent.action == "login.success")))


@pytest.fixture
def app_behind(database):
    """Build an app with the given TRUSTED_PROXY_COUNT (and overrides) on this test's database."""
    made = []

    def _make(proxies: int, **overrides):
        made.append(create_app("testing", {**database, "TRUSTED_PROXY_COUNT": proxies, **overrides}))
        return made[-1]

    yield _make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_forwarded_for_is_ignored_by_default(app, client):
    assert app.config["TRUSTED_PROXY_COUNT"] == 0
    user = make_user(email="ada@example.org")
    db.session.commit()
    assert _sign_in(client, user.email).status_code == 302
    assert _sign_in_addresses() == [PROXY]


def test_forwarded_for_is_honoured_behind_one_proxy(app_behind):
    app = app_behind(1)
    with app.app_context():
        make_user(email="ada@example.org")
        db.session.commit()
        client = app.test_client()
        assert _sign_in(client, "ada@example.org").status_code == 302
        # The address our proxy appended, not the one the client claimed before it.
        assert _sign_in_addresses() == [CLIENT]


def test_two_proxies_take_the_second_address_from_the_right(app_behind):
    app = app_behind(2)
    with app.app_context():
        make_user(email="ada@example.org")
        db.session.commit()
        client = app.test_client()
        assert _sign_in(client, "ada@example.org", forwarded_for=f"{CLAIMED}, {CLIENT}, 10.0.0.1").status_code == 302
        assert _sign_in_addresses() == [CLIENT]


def test_the_rate_limit_counts_per_forwarded_client_only_behind_a_proxy(app_behind):
    """Behind the proxy every client shares its address: without ProxyFix one client would lock out everyone."""
    was_enabled = limiter.enabled  # the limiter is a module-level singleton: leave it as found
    try:
        app = app_behind(1, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
        with app.app_context():
            limiter.reset()
            client = app.test_client()
            first = [_sign_in(client, "nobody@example.org", "wrong", forwarded_for=CLIENT).status_code
                     for _ in range(3)]
            assert first == [200, 200, 429]
            assert _sign_in(client, "nobody@example.org", "wrong", forwarded_for="203.0.113.8").status_code == 200
            # A client cannot reset its count by claiming another address in front of the proxy's.
            spoofed = _sign_in(client, "nobody@example.org", "wrong", forwarded_for=f"{CLAIMED}, {CLIENT}")
            assert spoofed.status_code == 429

        limiter.reset()
        direct = app_behind(0, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per minute")
        with direct.app_context():
            client = direct.test_client()
            answers = [_sign_in(client, "nobody@example.org", "wrong", forwarded_for=f"203.0.113.{n}").status_code
                       for n in range(3)]
            assert answers == [200, 200, 429]  # a made-up X-Forwarded-For does not dodge the limit
    finally:
        limiter.reset()
        limiter.enabled = was_enabled


@pytest.mark.parametrize("value, expected", [("", 0), ("0", 0), ("1", 1), (" 2 ", 2)])
def test_trusted_proxy_count_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", value)
    assert config._proxy_count() == expected


@pytest.mark.parametrize("value", ["yes", "-1", "1.5"])
def test_a_malformed_trusted_proxy_count_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", value)
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_COUNT"):
        config._proxy_count()
