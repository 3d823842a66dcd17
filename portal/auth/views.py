"""Sign-in, sign-out, two-step, password reset and account pages. (Stub: being built.)"""
from flask import Blueprint

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    return "Sign in"


@bp.post("/logout")
def logout():
    return "Signed out"
