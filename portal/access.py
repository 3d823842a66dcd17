"""The deny-by-default gate in front of every view, and the session loader that makes logout real."""
from flask import Flask, abort, redirect, request, session, url_for
from flask_login import current_user

from portal import policy
from portal.extensions import db, login_manager
from portal.models import User

TWO_STEP_SETUP_FLAG = "two_step_setup_required"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The cookie holds "<user id>:<nonce>"; a changed nonce (logout, new password, disabled) ends it."""
    user_id, _, nonce = session_id.partition(":")
    if not user_id.isdigit() or not nonce:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_nonce != nonce:
        return None
    return user


def _gate():
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: let the 404/405 handler answer
        return None
    rule = policy.rule_for(endpoint)
    user = current_user._get_current_object()  # the user itself: the proxy would be resolved on every use
    if not user.is_authenticated:
        user = None
    if rule is None:
        abort(403)
    if user is not None and session.get(TWO_STEP_SETUP_FLAG) and not rule.during_two_step_setup:
        return redirect(url_for("auth.two_step_setup"))
    if rule.allows(user):
        return None
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
    abort(403)


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"  # the nonce in the cookie ends stolen sessions at logout
    app.before_request(_gate)
