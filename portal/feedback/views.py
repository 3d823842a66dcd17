"""The weekly feedback form of a placement, reached by the mailed (mentor) or handed-on (intern) link."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address

from portal.errors import InvalidState, PortalError
from portal.extensions import limiter
from portal.feedback.forms import FeedbackForm
from portal.forms.fields import attach_error
from portal.services import internship_followup

bp = Blueprint("feedback", __name__)


def _attempt_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


# The token is the only key: guessing costs a POST, counted per network address (as for password reset links).
limit_attempts = limiter.limit(_attempt_limit, methods=["POST"], key_func=get_remote_address)

STATUS = {"unknown": 404, "expired": 410, "done": 200}


@bp.route("/feedback/<token>", methods=["GET", "POST"])
@limit_attempts
def form(token: str):
    """A rating from 1 to 5, what went well and what could be better; one answer per link."""
    link = internship_followup.feedback_link(token)
    if link.state != "open":
        return render_template("feedback/closed.html", link=link), STATUS[link.state]
    form = FeedbackForm()
    if form.validate_on_submit():
        try:
            internship_followup.submit_feedback(token, rating=form.rating.data, went_well=form.went_well.data,
                                                to_improve=form.to_improve.data, ip=request.remote_addr)
        except InvalidState:
            return render_template("feedback/closed.html", link=internship_followup.feedback_link(token)), 409
        except PortalError as error:
            attach_error(form, error)
        else:
            flash("Thank you: your feedback has been saved.", "success")
            return redirect(url_for(".form", token=token))
    return render_template("feedback/form.html", form=form, link=link,
                           side=internship_followup.SIDE_LABELS[link.feedback.side]), 400 if form.errors else 200
