"""Sign-up for provider contacts and careers leads, and email confirmation. (Stub: being built.)"""
from flask import Blueprint

bp = Blueprint("signup", __name__)


@bp.get("/signup")
def start():
    return "Sign up"


@bp.get("/signup/provider")
def provider():
    return "Sign up as a provider"


@bp.get("/signup/careers-lead")
def careers_lead():
    return "Sign up as a careers lead"
