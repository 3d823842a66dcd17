"""The landing page, each role's home page, and the health check."""
from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import text

from portal.extensions import csrf, db
from portal.services import home

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """Signed out: what the portal is. Signed in: what needs this user's attention."""
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    return render_template("main/home.html", home=home.summary_for(current_user))


@bp.get("/healthz")
@csrf.exempt
def healthz():
    """For load balancers and install checks: is the app up and can it reach its database?"""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database is "unhealthy", whatever the driver says
        db.session.rollback()
        return {"status": "error", "database": "error"}, 503
    return {"status": "ok", "database": "ok"}
