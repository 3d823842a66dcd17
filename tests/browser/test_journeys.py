"""The main journeys in a real browser, mail read from the real SMTP server, axe-core on every page.

A provider signs up and is verified; a wrong password; a password reset; two-step sign-in, and
setting it up at a coordinator's first sign-in.
"""
import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import Area, OrgStatus, User, UserStatus, utcnow
from portal.vocab import Role
from tests.browser import axe_check
from tests.factories import PASSWORD, make_area, make_provider, make_user
from tests.smtp import text_body

pytestmark = pytest.mark.browser

WRONG_CREDENTIALS = re.compile(r"Email or password is not right")


def arrive(page: Page, heading: str | re.Pattern) -> None:
    """We are on the page with this <h1>, and axe-core finds nothing serious or critical on it."""
    expect(page.locator("h1")).to_have_text(heading)
    axe_check(page)


def sign_in(page: Page, live_server, email: str, password: str, *, open_page: bool = True) -> None:
    """Fill in the sign-in form (opening /login first unless we were sent there)."""
    if open_page:
        page.goto(live_server.path("auth.login"))
    arrive(page, "Sign in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def enter_code(page: Page, code: str) -> None:
    arrive(page, "Enter your two-step code")
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Continue").click()


def wrong_code(totp: pyotp.TOTP) -> str:
    """A 6-digit code the server will refuse: not the code of this time step or either neighbour."""
    now = time.time()
    valid = {totp.at(now + drift) for drift in (-totp.interval, 0, totp.interval)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")


def seed_coordinator(live_server, *, email: str, area_name: str = "Burnley", two_step: bool = True) -> str | None:
    """A coordinator of `area_name` (created if missing); returns the TOTP secret when two-step is on."""
    secret = pyotp.random_base32() if two_step else None

    def create():
        area = db.session.scalar(db.select(Area).filter_by(name=area_name)) or make_area(area_name)
        make_user(Role.COORDINATOR, email=email, name="Rachel Holden", areas=[area], totp_secret=secret,
                  totp_enabled_at=utcnow() if two_step else None)
        db.session.commit()

    live_server.run(create)
    return secret


def seed_provider_contact(live_server, *, email: str, name: str = "Neil Crabtree") -> None:
    def create():
        organisation = make_provider(make_area("Burnley"), name="Pennine Aerostructures Ltd")
        make_user(Role.PROVIDER, organisation=organisation, email=email, name=name)
        db.session.commit()

    live_server.run(create)


def test_provider_signs_up_confirms_is_verified_and_signs_in(page, live_server):
    secret = seed_coordinator(live_server, email="coordinator.burnley@example.org")
    email, password = "amira.khan@calder-robotics.example", "kestrel lantern orchard 42"

    # Sign up, registering a new organisation in Burnley.
    page.goto(live_server.path("main.index"))
    arrive(page, "Employer encounters for every young person")
    page.get_by_role("link", name="Sign up as a provider").click()
    arrive(page, "Sign up to offer encounters")
    page.get_by_label("Your name").fill("Amira Khan")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_label("Register a new organisation").check()
    page.get_by_label("Organisation name").fill("Calder Robotics Ltd")
    page.get_by_label("Area").select_option(label="Burnley")
    page.get_by_label("Kind of organisation").select_option(label="Employer")
    page.get_by_label("Engineering and manufacturing").check()
    page.get_by_label("Digital", exact=True).check()
    page.get_by_label("Size").select_option(value="small")
    page.get_by_label("Town or village").fill("Burnley")
    page.get_by_label("Safeguarding contact (optional)").fill("Amira Khan, director, 01632 960500")
    page.get_by_role("button", name="Sign up").click()
    arrive(page, "Check your email")

    # Nothing is usable yet: the organisation and the account wait.
    def pending_state():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        return user.status, user.email_confirmed_at is not None, user.organisation.status, user.organisation.town

    assert live_server.run(pending_state) == (UserStatus.PENDING, False, OrgStatus.PENDING, "Burnley")

    # Confirm the address with the link that arrived by SMTP.
    (message,) = live_server.mail_to(email)
    page.goto(live_server.link_in(message))
    arrive(page, "Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_contain_text("your email address is confirmed")
    axe_check(page)

    # Still pending: signing in says so.
    sign_in(page, live_server, email, password)
    expect(page.get_by_role("alert")).to_contain_text("waiting for a coordinator")
    axe_check(page)

    # The Burnley coordinator was told by mail; the link leads through sign-in (password and code) to the queue.
    (notice,) = live_server.mail_to("coordinator.burnley@example.org")
    assert "Amira Khan" in text_body(notice) and "Calder Robotics Ltd" in text_body(notice)
    page.goto(live_server.link_in(notice))
    sign_in(page, live_server, "coordinator.burnley@example.org", PASSWORD, open_page=False)
    enter_code(page, pyotp.TOTP(secret).now())
    arrive(page, "Verification queue")
    waiting = page.get_by_role("row", name=re.compile("Amira Khan"))
    expect(waiting).to_contain_text("Calder Robotics Ltd")
    expect(waiting).to_contain_text("New organisation")
    waiting.get_by_role("button", name="Approve Amira Khan").click()
    arrive(page, "Verification queue")
    expect(page.get_by_role("status")).to_contain_text("Amira Khan and Calder Robotics Ltd are verified")
    expect(page.locator("main")).to_contain_text("Nobody is waiting for verification")
    sign_out(page)

    def verified_state():
        user = db.session.scalar(db.select(User).filter_by(email=email))
        return user.status, user.organisation.status

    assert live_server.run(verified_state) == (UserStatus.ACTIVE, OrgStatus.VERIFIED)
    (approval,) = [m for m in live_server.mail_to(email) if m is not message]
    assert "has been verified" in text_body(approval)
    assert live_server.link_in(approval) == live_server.url + live_server.path("auth.login")

    # The provider signs in and lands on their home page.
    sign_in(page, live_server, email, password)
    arrive(page, "Welcome, Amira Khan")
    expect(page.locator("main")).to_contain_text("Provider contact at Calder Robotics Ltd")


def test_wrong_password_and_unknown_email_get_the_same_answer(page, live_server):
    seed_provider_contact(live_server, email="neil@pennine-aero.example")

    sign_in(page, live_server, "neil@pennine-aero.example", "not the right password at all")
    arrive(page, "Sign in")
    wrong_password = page.get_by_role("alert").inner_text()
    assert WRONG_CREDENTIALS.search(wrong_password)
    expect(page.get_by_label("Password", exact=True)).to_have_value("")

    sign_in(page, live_server, "nobody@pennine-aero.example", "not the right password at all")
    arrive(page, "Sign in")
    assert page.get_by_role("alert").inner_text() == wrong_password

    sign_in(page, live_server, "neil@pennine-aero.example", PASSWORD)
    arrive(page, "Welcome, Neil Crabtree")


def test_password_reset_by_emailed_link(page, live_server):
    seed_provider_contact(live_server, email="neil@pennine-aero.example")
    new_password = "granite heron velvet 1907"

    page.goto(live_server.path("auth.login"))
    arrive(page, "Sign in")
    page.get_by_role("link", name="Forgotten your password?").click()
    arrive(page, "Reset your password")
    page.get_by_label("Email address").fill("neil@pennine-aero.example")
    page.get_by_role("button", name="Send the link").click()
    arrive(page, "Sign in")
    expect(page.get_by_role("status")).to_contain_text("If an account exists for that address")

    (message,) = live_server.mail_to("neil@pennine-aero.example")
    link = live_server.link_in(message)
    page.goto(link)
    arrive(page, "Choose a new password")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Confirm new password").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    arrive(page, "Sign in")
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed")

    # The link works once.
    assert page.goto(link).status == 404
    axe_check(page)

    sign_in(page, live_server, "neil@pennine-aero.example", PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text(WRONG_CREDENTIALS)
    sign_in(page, live_server, "neil@pennine-aero.example", new_password)
    arrive(page, "Welcome, Neil Crabtree")


def test_coordinator_two_step_sign_in(page, live_server):
    secret = seed_coordinator(live_server, email="coordinator.burnley@example.org")
    totp = pyotp.TOTP(secret)

    sign_in(page, live_server, "coordinator.burnley@example.org", PASSWORD)
    # Not signed in yet: the password alone opens nothing.
    page.goto(live_server.path("verification.queue"))
    arrive(page, "Sign in")
    page.goto(live_server.path("auth.login_two_step"))
    enter_code(page, wrong_code(totp))
    arrive(page, "Enter your two-step code")
    expect(page.get_by_role("alert")).to_be_visible()

    enter_code(page, totp.now())
    arrive(page, "Welcome, Rachel Holden")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Verification")).to_be_visible()


def test_coordinator_without_two_step_sets_it_up_at_first_sign_in(page, live_server):
    seed_coordinator(live_server, email="coordinator.burnley@example.org", two_step=False)

    sign_in(page, live_server, "coordinator.burnley@example.org", PASSWORD)
    arrive(page, "Set up two-step sign-in")
    # Nothing else opens until it is done.
    page.goto(live_server.path("verification.queue"))
    arrive(page, "Set up two-step sign-in")

    # No camera here: read the key shown in text, as someone typing it into their app would.
    secret = re.sub(r"\s", "", page.locator("#totp-secret").inner_text())
    page.get_by_label("Code from your app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    arrive(page, "Your new recovery codes")
    codes = [c.strip() for c in page.get_by_role("list", name="Recovery codes").locator("code").all_inner_texts()]
    assert len(codes) == 10 and len(set(codes)) == 10
    page.get_by_role("link", name=re.compile("continue")).click()
    arrive(page, "Welcome, Rachel Holden")

    def two_step_on():
        user = db.session.scalar(db.select(User).filter_by(email="coordinator.burnley@example.org"))
        return user.two_step_enabled

    assert live_server.run(two_step_on)

    # Next time the password is not enough; a recovery code stands in for a lost phone.
    sign_out(page)
    sign_in(page, live_server, "coordinator.burnley@example.org", PASSWORD)
    enter_code(page, codes[0])
    arrive(page, "Welcome, Rachel Holden")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Verification").click()
    arrive(page, "Verification queue")

