"""Browser fixtures: the app served on a free loopback port with a fresh SQLite database, a Chromium
page driven by Playwright, and an axe-core check for every page a journey visits.

These tests do not use the `app` fixture from tests/conftest.py: it is parametrised over SQLite
and PostgreSQL and lives in the test's thread; here the app runs in a server thread of its own.
"""
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask, url_for
from werkzeug.serving import BaseWSGIServer, make_server

from portal import create_app, geo
from portal.extensions import db
from tests.conftest import CHROMIUM
from tests.smtp import SmtpServer, text_body

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

@dataclass
class LiveServer:
    """The app serving real HTTP on 127.0.0.1, plus helpers that run code inside its app context."""

    url: str
    app: Flask
    smtp: SmtpServer

    def path(self, endpoint: str, **values) -> str:
        """The URL path of an endpoint, so tests follow the routes the app really has."""
        with self.app.test_request_context():
            return url_for(endpoint, **values)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Call fn() inside the app's context (to seed rows or read the database) and return its result."""
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()

    def deliver_mail(self) -> list[EmailMessage]:
        """Send what the outbox holds through the real SMTP server; return everything it has received."""
        from portal.services import outbox

        self.run(outbox.send_pending)
        return list(self.smtp.messages)

    def mail_to(self, address: str) -> list[EmailMessage]:
        """Deliver pending mail, then return the messages received for this address."""
        self.deliver_mail()
        return self.smtp.to(address)

    def link_in(self, message: EmailMessage) -> str:
        """The first link back to this server in a message's plain-text body."""
        match = re.search(re.escape(self.url) + r"/\S+", text_body(message))
        assert match, f"no link to {self.url} in:\n{text_body(message)}"
        return match.group(0).rstrip(".,)>")


@pytest.fixture(scope="session")
def gazetteer():
    """Load the GB gazetteer once, before any server thread needs it (about 4 s cold): otherwise the first
    town lookup in a journey races the page's search-as-you-type request to load it twice."""
    geo.gb_places()


@pytest.fixture
def live_server(tmp_path, sqlite_template, smtp_server, gazetteer):
    """A fresh database and the app serving it on a free loopback port, in a daemon thread."""
    smtp_server.clear()
    path = tmp_path / "browser.db"
    shutil.copyfile(sqlite_template, path)  # the template was made with db.create_all()
    app = create_app("testing", {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
        "WTF_CSRF_ENABLED": True,  # the browser submits real forms: exercise real CSRF tokens
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "RATELIMIT_ENABLED": False,
    })
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url  # links in mail point back at this server
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=url, app=app, smtp=smtp_server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (Playwright cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) and page whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
