"""The web side of signing in: safe `next` addresses, the session, the half-way two-step state, QR codes."""
import time
import unicodedata
from urllib.parse import unquote, urlsplit

import segno
from flask import session, url_for
from flask_login import current_user, login_user, logout_user

from portal.access import TWO_STEP_SETUP_FLAG
from portal.errors import PortalError

PENDING_KEY = "two_step_pending"
PENDING_SECONDS = 5 * 60  # the password step is forgotten if no code follows soon
SETUP_SECRET_KEY = "two_step_setup_secret"  # noqa: S105 (a session key name, not a secret)


def _has_control_chars(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value)


def is_safe_next(url: str | None) -> bool:
    """Only a path on this site: no other host, scheme, backslash trickery or header-splitting characters."""
    if not url or not isinstance(url, str):
        return False
    # Browsers read a backslash as a slash and drop tabs and newlines, so "/\evil.com" means "//evil.com";
    # check the decoded form too, so "%0d%0a" or "%2f%2f" cannot sneak the same tricks through.
    for candidate in (url, unquote(url)):
        if _has_control_chars(candidate) or "\\" in candidate:
            return False
        if not candidate.startswith("/") or candidate.startswith("//"):
            return False
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return False
    return True


def next_or_home(url: str | None) -> str:
    return url if is_safe_next(url) else url_for("main.index")


def signed_in_user():
    """The real User behind `current_user`: services get the object, never the proxy (login_user(proxy) loops)."""
    return current_user._get_current_object()


def start_session(user, *, setup_required: bool = False) -> None:
    """Sign in on a fresh session: nothing stored before the password survives into the signed-in one."""
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME
    login_user(user)
    if setup_required:
        session[TWO_STEP_SETUP_FLAG] = True


def relogin(user) -> None:
    """Keep this browser signed in after the user's nonce changed (a new password ended the other sessions)."""
    login_user(user)


def end_session() -> None:
    logout_user()
    session.clear()


def remember_pending(user, next_url: str | None) -> None:
    """The password was right and a code is due: remember who, not signed in, for a few minutes."""
    session.clear()
    session[PENDING_KEY] = {
        "user_id": user.id,
        "nonce": user.session_nonce,
        "next": next_url if is_safe_next(next_url) else None,
        "expires": int(time.time()) + PENDING_SECONDS,
    }


def pending() -> dict | None:
    data = session.get(PENDING_KEY)
    if not isinstance(data, dict) or data.get("expires", 0) < time.time():
        session.pop(PENDING_KEY, None)
        return None
    return data


def setup_secret(new_secret) -> str:
    """The secret being set up, kept in the session until the user confirms it (GET changes no rows)."""
    if SETUP_SECRET_KEY not in session:
        session[SETUP_SECRET_KEY] = new_secret()
    return session[SETUP_SECRET_KEY]


def finish_setup() -> None:
    session.pop(SETUP_SECRET_KEY, None)
    session.pop(TWO_STEP_SETUP_FLAG, None)


def qr_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI, made here (no third-party service ever sees the secret)."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2)


def spaced(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def show_error(form, error: PortalError) -> None:
    """Put a domain error beside its field, or at the top of the form."""
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, error.message]
    else:
        form.form_errors.append(error.message)
