"""The app factory, configuration, health check, security headers and error pages."""
import pytest
from sqlalchemy.exc import OperationalError

from config import ProductionConfig
from portal import create_app
from portal.extensions import SQLITE_CACHE_KIB, SQLITE_MMAP_BYTES, db


def test_healthz_reports_database_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_database_error_with_503(tmp_path):
    # A SQLite path inside a missing directory cannot be opened: the database is unreachable.
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.db"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "error"}


@pytest.mark.parametrize("key", [None, "", "dev", "short", "a" * 64, "development-only-not-secret"])
def test_production_refuses_weak_secret_key(key):
    overrides = {"SECRET_KEY": key, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production", overrides)


def test_production_accepts_strong_secret_key_and_sets_secure_cookies():
    app = create_app("production", {"SECRET_KEY": "kJ8-vQ2_pL5zR9wX3nT7yB1mC6dF0gH4sA",
                                    "PUPIL_ID_KEY": "Zx9-Qw3_Er7Ty1Ui5Op0As4Df8Gh2Jk6L",
                                    "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["MAX_CONTENT_LENGTH"] > 0
    assert ProductionConfig.SESSION_COOKIE_SECURE


def test_security_headers_on_every_response(client):
    for path in ("/", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_not_found_page_is_friendly(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Page not found" in response.data


def test_database_outage_gives_503_page_not_stack_trace(app, client, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr("portal.main.views.render_template", broken)
    response = client.get("/")
    assert response.status_code == 503
    assert b"Traceback" not in response.data
    assert b"unavailable" in response.data


@pytest.mark.sqlite_only
def test_sqlite_pragmas_are_set(app):
    conn = db.session.connection()
    assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    # Pages are read through memory-mapped I/O, with a page cache larger than SQLite's 2 MiB default.
    assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == SQLITE_MMAP_BYTES > 0
    assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB < -2000


def test_a_concurrent_change_gives_409_not_a_stack_trace(app, client, monkeypatch):
    from sqlalchemy.orm.exc import StaleDataError

    def racing(*args, **kwargs):
        raise StaleDataError("UPDATE statement on table 'organisations' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr("portal.main.views.render_template", racing)
    response = client.get("/")
    assert response.status_code == 409
    assert b"Someone else changed this" in response.data
    assert b"Traceback" not in response.data


def test_a_service_refusal_no_view_caught_is_a_403_page_not_a_server_error(app, client):
    from portal import policy
    from portal.errors import NotAllowed, NotFound

    def refused():
        raise NotAllowed("Only the school's careers leads may do that.")

    def missing():
        raise NotFound("There is no such pupil.")

    app.add_url_rule("/__refused", "test_refused", refused)
    app.add_url_rule("/__missing", "test_missing", missing)
    policy.ROUTE_RULES["test_refused"] = policy.PUBLIC
    policy.ROUTE_RULES["test_missing"] = policy.PUBLIC
    try:
        refused_page = client.get("/__refused")
        assert refused_page.status_code == 403 and "You do not have access" in refused_page.get_data(as_text=True)
        assert client.get("/__missing").status_code == 404
    finally:
        del policy.ROUTE_RULES["test_refused"], policy.ROUTE_RULES["test_missing"]
