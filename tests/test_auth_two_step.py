"""Two-step sign-in: setup with a local QR code, codes at sign-in, recovery codes, and forced setup for staff."""
import hashlib
import re
import time

import pyotp
import pytest
from sqlalchemy import select

from portal.access import TWO_STEP_SETUP_FLAG
from portal.auth.web import PENDING_KEY, SETUP_SECRET_KEY
from portal.extensions import db
from portal.models import AuditEvent, RecoveryCode, User, utcnow
from portal.services import auth
from portal.vocab import Role
from tests.factories import PASSWORD, make_user

CODE_PATTERN = re.compile(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>")


def sign_in(client, email, password=PASSWORD, next_url=None):
    path = "/login" if next_url is None else f"/login?next={next_url}"
    return client.post(path, data={"email": email, "password": password})


def session_value(client, key):
    with client.session_transaction() as session:
        return session.get(key)


def actions():
    return [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def user_with_two_step(role=Role.CAREERS_LEAD, **fields):
    """A user with two-step on, and their recovery codes (made by the real service)."""
    user = make_user(role, **fields)
    db.session.commit()
    secret = pyotp.random_base32()
    codes = auth.enable_two_step(user, secret, pyotp.TOTP(secret).now(), ip=None)
    user.totp_last_step = None  # let the test use the current code once more
    db.session.commit()
    return user, secret, codes


def test_setup_shows_a_local_qr_code_and_the_secret_then_turns_two_step_on(client, login):
    user = make_user(Role.CAREERS_LEAD)
    db.session.commit()
    login(user)
    page = client.get("/account/two-step").get_data(as_text=True)
    secret = session_value(client, SETUP_SECRET_KEY)
    assert re.search(r'<img class="qr-code" src="data:image/svg\+xml[^"]+" alt="[^"]+"', page)
    assert " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in page
    assert 'autocomplete="one-time-code"' in page
    assert "<script" not in page and 'style="' not in page
    # Reloading keeps the same secret, so a code from the app scanned earlier still fits.
    client.get("/account/two-step")
    assert session_value(client, SETUP_SECRET_KEY) == secret

    wrong = client.post("/account/two-step", data={"code": "000000" if pyotp.TOTP(secret).now() != "000000"
                                                   else "111111"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.get_data(as_text=True)
    assert db.session.get(User, user.id).totp_enabled_at is None

    response = client.post("/account/two-step", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    shown = CODE_PATTERN.findall(response.get_data(as_text=True))
    assert len(shown) == 10 and len(set(shown)) == 10
    user = db.session.get(User, user.id)
    assert user.two_step_enabled and user.totp_secret == secret
    stored = {c.code_hash for c in user.recovery_codes}
    assert stored == {hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in shown}
    assert session_value(client, SETUP_SECRET_KEY) is None
    assert "two_step.enable" in actions()


def test_sign_in_with_two_step_needs_a_current_code(client):
    user, secret, _ = user_with_two_step(email="lead@example.org")
    response = sign_in(client, "lead@example.org", next_url="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/login/two-step"
    # Password alone: not signed in yet.
    assert session_value(client, "_user_id") is None
    assert client.get("/account").status_code == 302
    pending = session_value(client, PENDING_KEY)
    assert pending["user_id"] == user.id and pending["next"] == "/account"
    assert pending["expires"] <= time.time() + 5 * 60

    page = client.get("/login/two-step").get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page
    response = client.post("/login/two-step", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert session_value(client, "_user_id") == db.session.get(User, user.id).get_id()
    assert session_value(client, PENDING_KEY) is None
    assert actions()[-1] == "login.success"


def test_a_wrong_code_does_not_sign_in(client):
    _, secret, _ = user_with_two_step(email="lead@example.org")
    sign_in(client, "lead@example.org")
    current = pyotp.TOTP(secret).now()
    wrong = f"{(int(current) + 1) % 1_000_000:06d}"
    response = client.post("/login/two-step", data={"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.get_data(as_text=True)
    assert session_value(client, "_user_id") is None
    assert actions()[-1] == "two_step.failure"


def test_a_code_cannot_be_used_twice(client):
    _, secret, _ = user_with_two_step(email="lead@example.org")
    code = pyotp.TOTP(secret).now()
    sign_in(client, "lead@example.org")
    assert client.post("/login/two-step", data={"code": code}).status_code == 302
    client.post("/logout")
    sign_in(client, "lead@example.org")
    replay = client.post("/login/two-step", data={"code": code})
    assert replay.status_code == 200
    assert "already been used" in replay.get_data(as_text=True)
    assert session_value(client, "_user_id") is None


def test_the_half_way_state_expires(client):
    _, secret, _ = user_with_two_step(email="lead@example.org")
    sign_in(client, "lead@example.org")
    with client.session_transaction() as session:
        session[PENDING_KEY] = {**session[PENDING_KEY], "expires": int(time.time()) - 1}
    response = client.post("/login/two-step", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert "Sign in again" in response.get_data(as_text=True)
    assert session_value(client, "_user_id") is None


def test_the_half_way_state_dies_with_the_sessions(client):
    """A password reset between the two steps (new nonce) spoils the half-finished sign-in."""
    user, secret, _ = user_with_two_step(email="lead@example.org")
    sign_in(client, "lead@example.org")
    user.session_nonce = "changed-elsewhere"
    db.session.commit()
    response = client.post("/login/two-step", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert session_value(client, "_user_id") is None


def test_the_two_step_page_without_a_password_first(client):
    page = client.get("/login/two-step")
    assert page.status_code == 200
    assert "Sign in again" in page.get_data(as_text=True)


def test_a_recovery_code_works_once(client):
    user, _, codes = user_with_two_step(email="lead@example.org")
    sign_in(client, "lead@example.org")
    response = client.post("/login/two-step", data={"code": codes[0].upper().replace("-", " ")})
    assert response.status_code == 302
    assert session_value(client, "_user_id") is not None
    used = [c for c in db.session.get(User, user.id).recovery_codes if c.used_at is not None]
    assert len(used) == 1
    assert "two_step.recovery_code_used" in actions()

    client.post("/logout")
    sign_in(client, "lead@example.org")
    again = client.post("/login/two-step", data={"code": codes[0]})
    assert again.status_code == 200 and session_value(client, "_user_id") is None


def test_new_recovery_codes_replace_the_old(client, login):
    user, _, old_codes = user_with_two_step()
    login(user)
    page = client.get("/account/two-step/recovery-codes").get_data(as_text=True)
    assert "<strong>10</strong> unused recovery codes" in page
    response = client.post("/account/two-step/recovery-codes")
    new_codes = CODE_PATTERN.findall(response.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    hashes = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
    assert hashlib.sha256(old_codes[0].replace("-", "").encode()).hexdigest() not in hashes
    assert len(hashes) == 10


def test_a_careers_lead_may_turn_two_step_off_with_their_password(client, login):
    user, _, _ = user_with_two_step()
    login(user)
    assert "Turn off two-step sign-in" in client.get("/account").get_data(as_text=True)
    wrong = client.post("/account/two-step/disable", data={"password": "not my password!"})
    assert wrong.status_code == 200 and "Your password is not right" in wrong.get_data(as_text=True)
    assert db.session.get(User, user.id).two_step_enabled

    response = client.post("/account/two-step/disable", data={"password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    user = db.session.get(User, user.id)
    assert not user.two_step_enabled and user.totp_secret is None and user.recovery_codes == []
    assert "two_step.disable" in actions()


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
def test_coordinators_and_admins_cannot_turn_two_step_off(client, login, role):
    user, _, _ = user_with_two_step(role)
    login(user)
    assert "Turn off two-step sign-in" not in client.get("/account").get_data(as_text=True)
    response = client.post("/account/two-step/disable", data={"password": PASSWORD})
    assert response.status_code == 302
    assert db.session.get(User, user.id).two_step_enabled
    assert "two_step.disable" not in actions()


def test_a_coordinator_without_two_step_is_signed_in_but_sent_to_setup(client):
    user = make_user(Role.COORDINATOR, email="coord@example.org")
    db.session.commit()
    response = sign_in(client, "coord@example.org", next_url="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-step"
    assert session_value(client, "_user_id") == user.get_id()
    assert session_value(client, TWO_STEP_SETUP_FLAG) is True


def test_a_coordinator_in_setup_can_reach_only_the_setup_routes(client, login):
    user = make_user(Role.COORDINATOR)
    db.session.commit()
    login(user, two_step_setup_required=True)
    for path in ("/", "/account"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/account/two-step", path
    assert client.get("/account/password").status_code == 200

    client.get("/account/two-step")
    secret = session_value(client, SETUP_SECRET_KEY)
    assert client.post("/account/two-step", data={"code": pyotp.TOTP(secret).now()}).status_code == 200
    assert session_value(client, TWO_STEP_SETUP_FLAG) is None
    assert client.get("/account").status_code == 200


def test_moving_two_step_to_a_new_device_replaces_the_secret(client, login):
    user, old_secret, _ = user_with_two_step(Role.COORDINATOR)
    login(user)
    assert "already on" in client.get("/account/two-step").get_data(as_text=True)
    new_secret = session_value(client, SETUP_SECRET_KEY)
    assert new_secret != old_secret
    client.post("/account/two-step", data={"code": pyotp.TOTP(new_secret).now()})
    assert db.session.get(User, user.id).totp_secret == new_secret


def test_no_code_or_secret_reaches_the_audit_log(client):
    _, secret, codes = user_with_two_step(email="lead@example.org")
    sign_in(client, "lead@example.org")
    client.post("/login/two-step", data={"code": "123456"})
    client.post("/login/two-step", data={"code": codes[1]})
    details = " ".join(e.detail or "" for e in db.session.scalars(select(AuditEvent)))
    assert actions().count("login.success") == 1
    for secret_text in (secret, *codes, *(c.replace("-", "") for c in codes), PASSWORD, "123456"):
        assert secret_text not in details


def test_last_login_is_set_only_after_the_code(client):
    user, secret, _ = user_with_two_step(email="lead@example.org")
    sign_in(client, "lead@example.org")
    assert db.session.get(User, user.id).last_login_at is None
    before = utcnow()
    client.post("/login/two-step", data={"code": pyotp.TOTP(secret).now()})
    assert db.session.get(User, user.id).last_login_at >= before.replace(microsecond=0)


def test_navigation_during_forced_set_up_offers_only_reachable_pages(app, client, login):
    """A coordinator who must set up two-step sees no menu links that would bounce back to set-up."""
    from tests.factories import make_area

    coordinator = make_user(Role.COORDINATOR, areas=[make_area()])
    db.session.commit()
    login(coordinator, two_step_setup_required=True)
    page = client.get("/account/two-step").get_data(as_text=True)
    assert 'href="/verification"' not in page
    assert 'href="/audit"' not in page
