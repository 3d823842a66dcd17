"""Error pages: accessible, with no stack trace; JSON for API-ish requests."""
from flask import Flask, current_app, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from portal.errors import NotAllowed, NotFound
from portal.extensions import db, login_manager

MESSAGES = {
    400: ("Bad request", "Something in that request did not make sense. Go back and try again."),
    403: ("You do not have access to this page", "If you think you should, ask your coordinator."),
    404: ("Page not found", "Check the address, or go back to your home page."),
    405: ("That action is not allowed here", "Go back and use the buttons on the page."),
    409: ("Someone else changed this at the same moment", "Nothing you sent was saved. Reload the page and try again."),
    413: ("That file is too large", "Files can be at most 5 MB. Split it and try again."),
    429: ("Too many attempts", "Wait a minute and try again."),
    500: ("Sorry, something went wrong", "The problem has been logged. Try again in a moment."),
    503: ("The service is unavailable", "The database could not be reached. Try again in a moment."),
}

# How SQLite says it can read but not write (a read-only file, a full disk): the page says so, not "unreachable".
CANNOT_WRITE = ("readonly database", "read-only", "disk is full", "disk i/o error")


def _render(code: int, detail: str | None = None):
    title, message = MESSAGES.get(code, (f"Error {code}", ""))
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        return {"error": title, "detail": detail or message}, code
    try:
        return render_template("errors/error.html", code=code, title=title, message=detail or message), code
    except OperationalError as error:
        # Drawing the page loads the signed-in user for the navigation; the database has gone away since the
        # request began (a 404 for an unknown address reaches no view and loads nobody before this): say so.
        current_app.logger.error("database unavailable while drawing a %s page: %s", code, error.orig)
        return _unavailable()


def _unavailable():
    """The 503 page, drawn without the signed-in user: loading them (or their expired attributes, for the
    navigation) would need the database that just failed, and a failure inside an error handler is a bare 500."""
    g._login_user = login_manager.anonymous_user()
    title, message = MESSAGES[ServiceUnavailable.code]
    return render_template("errors/error.html", code=ServiceUnavailable.code, title=title,
                           message=message), ServiceUnavailable.code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _render(400, "Your form expired or was sent from elsewhere. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        return _render(error.code)

    # A service's own refusal that a view did not translate (views check first; this is the safety net behind them).
    @app.errorhandler(NotAllowed)
    def refused_by_a_service(error):
        db.session.rollback()
        return _render(403)

    @app.errorhandler(NotFound)
    def missing_in_a_service(error):
        db.session.rollback()
        return _render(404)

    @app.errorhandler(StaleDataError)
    def concurrent_change(error):
        """A version-checked row changed under us (two people acting at once): nothing was saved."""
        db.session.rollback()
        return _render(409)

    @app.errorhandler(DataError)
    def value_the_database_refused(error):
        """A value no form should have let through reached the database (PostgreSQL refuses NUL characters in text
        and numbers beyond a column's range): nothing was saved, and it is the request that was wrong."""
        db.session.rollback()
        app.logger.warning("database refused a value: %s", error.orig)
        return _render(400)

    @app.errorhandler(OperationalError)
    def database_unavailable(error):
        db.session.rollback()
        app.logger.error("database unavailable: %s", error.orig)
        if any(sign in str(error.orig).lower() for sign in CANNOT_WRITE):
            return _render(ServiceUnavailable.code, "The portal cannot save changes at the moment: nothing you sent "
                                                    "was saved. You can still look things up. Try again later.")
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return _render(ServiceUnavailable.code)
        return _unavailable()

    # Registered after Flask-SQLAlchemy's own teardown, so it runs first (teardowns run in reverse order).
    @app.teardown_appcontext
    def end_session_even_if_the_database_went_away(exc):
        """The answer is ready; ending the session rolls back its (read) transaction. If the database went away in
        between (a restart), that rollback fails: drop the dead connection instead of turning the answer into a 500.
        What a service wrote was committed before the answer, so nothing is lost."""
        try:
            db.session.remove()
        except OperationalError as error:
            app.logger.warning("database went away at the end of a request: %s", error.orig)
            db.session().invalidate()  # no ROLLBACK on the dead connection: it is discarded
            db.session.remove()

    @app.errorhandler(Exception)
    def unexpected(error):
        if isinstance(error, HTTPException):
            return http_error(error)
        app.logger.exception("unhandled error")
        db.session.rollback()
        return _render(InternalServerError.code)
