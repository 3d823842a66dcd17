"""The coordinator's verification queue: approve or reject people (and the organisations they registered)."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import paging, policy
from portal.errors import PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.models import User, UserStatus
from portal.services import accounts
from portal.verification.forms import RejectForm

bp = Blueprint("verification", __name__)

PER_PAGE = 25


@bp.get("/verification")
def queue():
    """People who confirmed their email and wait for verification, in this coordinator's areas."""
    page = paging.paginate(accounts.verification_queue(current_user), per_page=PER_PAGE)
    return render_template("verification/queue.html", page=page)


def _load_verifiable(user_id: int) -> User:
    user = db.get_or_404(User, user_id)
    if not policy.can_verify(current_user, user):
        abort(403)
    return user


@bp.post("/verification/users/<int:user_id>/approve")
def approve(user_id: int):
    """Approve a person; a new organisation they registered is verified with them."""
    user = _load_verifiable(user_id)
    try:
        result = accounts.approve_user(user, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        if not result.changed:
            flash(f"{user.name} is already verified.", "info")
        elif result.organisation_verified:
            flash(f"{user.name} and {user.organisation.name} are verified. We have emailed them.", "success")
        else:
            flash(f"{user.name} is verified. We have emailed them.", "success")
    return redirect(url_for("verification.queue"))


@bp.route("/verification/users/<int:user_id>/reject", methods=["GET", "POST"])
def reject(user_id: int):
    """Reject a person with a reason that is emailed to them; the form is the confirmation step."""
    user = _load_verifiable(user_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            accounts.reject_user(user, by=current_user, reason=form.reason.data, ip=request.remote_addr)
        except PortalError as error:
            if error.field:
                attach_error(form, error)
            else:  # decided meanwhile (by someone else): nothing to fix on this form
                flash(error.message, "danger")
                return redirect(url_for("verification.queue"))
        else:
            flash(f"{user.name}'s sign-up was rejected. We have emailed them the reason.", "success")
            return redirect(url_for("verification.queue"))
    return render_template("verification/reject.html", form=form, user=user,
                           pending=user.status == UserStatus.PENDING)
