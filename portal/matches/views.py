"""The coordinator's approval queue: proposed matches of their areas, approved, rejected or resized here."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import PortalError, StaleEdit
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.matches.forms import AllocationForm, ApproveManyForm, RejectForm, RunMatchingForm
from portal.models import Area, Match, MatchStatus
from portal.services import matches, matching
from portal.services.school_requests import match_status_label

bp = Blueprint("matches", __name__)


def _queue_args() -> dict:
    """The queue's sort and page from the query string, to come back to the same place after a decision."""
    args = {}
    sort = matches.sort_key(request.args.get("sort"))
    if sort != matches.DEFAULT_SORT:
        args["sort"] = sort
    page = request.args.get("page", 1, type=int)
    if page > 1:
        args["page"] = page
    return args


def _back():
    return redirect(url_for(".index", **_queue_args()))


def _run_form() -> RunMatchingForm:
    form = RunMatchingForm()
    form.area_id.choices = [(area.id, area.name) for area in matching.areas_for(current_user)]
    return form


def _load(match_id: int) -> Match:
    match = db.get_or_404(Match, match_id)
    if not policy.can_decide_match(current_user, match):
        abort(403)
    return match


@bp.get("/matches")
def index():
    """Proposed matches of the coordinator's areas (every area for admins), sorted by date, value or school."""
    sort = matches.sort_key(request.args.get("sort"))
    page = db.paginate(matches.queue(current_user, sort=sort), page=max(request.args.get("page", 1, type=int), 1),
                       per_page=matches.PER_PAGE, max_per_page=matches.PER_PAGE, error_out=False)
    return render_template("matches/index.html", page=page, rows=matches.queue_rows(page.items, current_user),
                           sort=sort, sorts=matches.SORTS, return_args=_queue_args(), select_form=ApproveManyForm(),
                           run_form=_run_form(),
                           filter_args={"sort": sort} if sort != matches.DEFAULT_SORT else {})


@bp.post("/matches/<int:match_id>/approve")
def approve(match_id: int):
    """Approve one match: its places are taken on the offer, or the coordinator is told why not."""
    match = _load(match_id)
    label = matches.match_label(match)
    try:
        outcome = matches.approve_match(match, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(f"{label} was not approved. {error.message}", "danger")
    else:
        if outcome.already:
            flash(f"{label} is already approved.", "info")
        else:
            flash(f"{label} is approved. We have emailed the provider and the school.", "success")
    return _back()


@bp.post("/matches/approve")
def approve_many():
    """Approve the selected matches, each on its own: one that cannot be approved does not stop the others."""
    form = ApproveManyForm()
    if not form.validate_on_submit():
        flash(" ".join(message for messages in form.errors.values() for message in messages), "danger")
        return _back()
    summary = matches.approve_matches(form.match_ids.data, by=current_user, ip=request.remote_addr)
    flash(f"{summary.message}.", "success" if not summary.refused else "warning")
    return _back()


@bp.route("/matches/<int:match_id>/reject", methods=["GET", "POST"])
def reject(match_id: int):
    """Reject a proposed match with a reason that is emailed to both sides; the form is the confirmation step."""
    match = _load(match_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            matches.reject_match(match, by=current_user, reason=form.reason.data, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:  # decided meanwhile: nothing to fix on this form
                flash(error.message, "danger")
                return _back()
            attach_error(form, error)
        else:
            flash(f"{matches.match_label(match)} is rejected. We have emailed the reason to both sides.", "success")
            return _back()
    return render_template("matches/reject.html", form=form, match=match, facts=matches.facts(match),
                           proposed=match.status == MatchStatus.PROPOSED,
                           status=match_status_label(match.status).lower(), return_args=_queue_args())


@bp.route("/matches/<int:match_id>/allocation", methods=["GET", "POST"])
def change_allocation(match_id: int):
    """Change how many a proposed match is for, within what the school needs and the offer has left."""
    match = _load(match_id)
    form = AllocationForm(data={"allocation": match.allocation, "expected": match.allocation})
    status = 200
    if form.validate_on_submit():
        try:
            matches.change_allocation(match, form.allocation.data, by=current_user, ip=request.remote_addr,
                                      expected=form.expected_allocation())
        except StaleEdit as error:
            attach_error(form, error)
            form.expected.data = str(match.allocation)
            status = 409
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _back()
            attach_error(form, error)
        else:
            flash(f"{matches.match_label(match)} is now for {matches.allocation_text(match)}.", "success")
            return _back()
    return render_template("matches/allocation.html", form=form, match=match, facts=matches.facts(match),
                           proposed=match.status == MatchStatus.PROPOSED, hint=matches.allocation_limit(match).hint(),
                           status=match_status_label(match.status).lower(), return_args=_queue_args()), status


@bp.post("/matches/run")
def run():
    """Run matching for one of the coordinator's areas; its unapproved proposals are replaced by the new ones."""
    form = _run_form()
    if not form.validate_on_submit():
        flash(" ".join(message for messages in form.errors.values() for message in messages), "danger")
        return _back()
    area = db.get_or_404(Area, form.area_id.data)
    result, stored = matching.run_matching(area, by=current_user)
    flash(matching.run_summary(area, result, stored), "success")
    return _back()
