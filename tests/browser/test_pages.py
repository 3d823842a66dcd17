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
