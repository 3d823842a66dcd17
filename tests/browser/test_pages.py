"""Public pages in a real browser: accessible (axe-core), titled with an <h1>, usable by keyboard."""
import pytest

from tests.browser import axe_check

pytestmark = pytest.mark.browser

PUBLIC_PAGES = ["main.index", "auth.login", "signup.start", "auth.forgot_password"]


@pytest.mark.parametrize("endpoint", PUBLIC_PAGES)
def test_public_page_is_accessible_and_has_a_heading(page, live_server, endpoint):
    response = page.goto(live_server.path(endpoint))
    assert response.status == 200
    assert page.locator("h1").count() == 1
    assert page.locator("h1").inner_text().strip()
    assert page.title().endswith("Encounters")
    axe_check(page)


@pytest.mark.parametrize("endpoint", PUBLIC_PAGES)
def test_tab_reaches_the_skip_link_first_and_it_moves_focus_to_main(page, live_server, endpoint):
    page.goto(live_server.path(endpoint))
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    assert focused.inner_text().strip() == "Skip to main content"
    assert focused.get_attribute("href") == "#main"
    assert page.locator(".skip-link").is_visible()  # visually hidden until focused, then shown
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"


# --- signed-in pages of pupils, progress and reports (4/6), on the demo data ------------------------------------------

def _demo_pages(live_server) -> tuple[str, dict[str, list[str]]]:
    """Seed the demo (two-step set up for its admin) and return the admin's secret and each login's pages."""
    import pyotp

    from portal.extensions import db
    from portal.models import Area, Pupil, User, utcnow
    from portal.services import demo

    secret = pyotp.random_base32()

    def seed():
        demo.seed_demo()
        admin = db.session.scalar(db.select(User).filter_by(email=f"admin@{demo.DEMO_DOMAIN}"))
        admin.totp_secret, admin.totp_enabled_at = secret, utcnow()
        db.session.commit()
        lead = db.session.scalar(db.select(User).filter_by(email=f"careers@brun-valley.{demo.DEMO_DOMAIN}"))
        pupil = db.session.scalar(db.select(Pupil.id).filter_by(school_id=lead.organisation_id)
                                  .order_by(Pupil.contacts.desc(), Pupil.id).limit(1))
        area = db.session.scalar(db.select(Area.id).filter_by(name="Burnley"))
        return {
            lead.email: ["/pupils", f"/pupils/{pupil}", "/pupils/import", "/progress", "/destinations",
                         "/reports/benchmark5"],
            f"admin@{demo.DEMO_DOMAIN}": ["/progress/areas", f"/progress/areas/{area}",
                                           f"/reports/areas/{area}/termly", f"/admin/areas/{area}/weights"],
            f"partnerships@pennine-aero.{demo.DEMO_DOMAIN}": ["/impact"],
        }

    return secret, live_server.run(seed)


def test_pupil_progress_and_report_pages_are_accessible(page, live_server):
    from tests.browser.test_run_matching_journey import sign_in

    secret, pages = _demo_pages(live_server)
    welcomes = {"careers@brun-valley": "Claire Duckworth", "admin@": "Sam Whitaker", "partnerships@": "Neil Crabtree"}
    for email, urls in pages.items():
        page.context.clear_cookies()
        welcome = next(name for prefix, name in welcomes.items() if email.startswith(prefix))
        sign_in(page, live_server, email, welcome=welcome, totp_secret=secret if email.startswith("admin@") else None)
        for url in urls:
            response = page.goto(url)
            assert response.status == 200, url
            assert page.locator("h1").count() == 1, url
            axe_check(page)


def test_my_matches_page_is_accessible(page, live_server):
    """Each side's list of its own matches (every group) on the demo data: rows, filters and the empty states."""
    from portal.services import demo
    from tests.browser.test_run_matching_journey import sign_in

    live_server.run(demo.seed_demo)
    people = {f"careers@brun-valley.{demo.DEMO_DOMAIN}": "Claire Duckworth",
              f"partnerships@pennine-aero.{demo.DEMO_DOMAIN}": "Neil Crabtree"}
    for email, welcome in people.items():
        page.context.clear_cookies()
        sign_in(page, live_server, email, welcome=welcome)
        page.get_by_role("link", name="Matches", exact=True).click()
        assert page.locator("h1").inner_text().strip() == "Your matches"
        assert page.locator("tbody tr").count() >= 1, email
        axe_check(page)
        for show in ("action", "upcoming", "past"):
            response = page.goto(f"/matches/mine?show={show}")
            assert response.status == 200
            assert page.locator("h1").count() == 1
            axe_check(page)
