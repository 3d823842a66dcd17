"""The coordinator's approval queue, and each match's own page where the people involved accept, decline, schedule,
cancel and record no-shows."""
from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import joinedload

from portal import policy
from portal.auth.web import signed_in_user
from portal.catalogue import Delivery
from portal.errors import NotAllowed, PortalError, StaleEdit
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.matches.forms import (
    AllocationForm,
    ApproveManyForm,
    ButtonForm,
    NoShowForm,
    ReasonForm,
    RejectForm,
    RunMatchingForm,
    ScheduleForm,
)
from portal.models import Area, Match, MatchStatus, SchoolRequest
from portal.services import auto_approval, jobs, match_lifecycle, matches, matching, my_matches, registers
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


def _back_to(match: Match):
    """To the match's own page when the decision was made there (?next=match), else to the queue."""
    return _to_match(match) if request.args.get("next") == "match" else _back()


def _run_form(areas: list[Area] | None = None) -> RunMatchingForm:
    form = RunMatchingForm()
    areas = matching.areas_for(current_user) if areas is None else areas
    form.area_id.choices = [(area.id, area.name) for area in areas]
    return form


def _load(match_id: int) -> Match:
    # With what its label names (offer, request, school) in the same query: every decision's message names it.
    match = db.get_or_404(Match, match_id, options=[joinedload(Match.offer),
                                                    joinedload(Match.request).joinedload(SchoolRequest.school)])
    if not policy.can_decide_match(current_user, match):
        abort(403)
    return match


@bp.get("/matches")
def index():
    """Proposed matches of the coordinator's areas (every area for admins), sorted by date, value or school."""
    user = signed_in_user()  # the object, not the proxy: the rows ask the policy about it for each match
    sort = matches.sort_key(request.args.get("sort"))
    page = matches.queue_page(user, sort=sort, page=request.args.get("page", 1, type=int))
    areas = matching.areas_for(user)
    return render_template("matches/index.html", page=page, rows=matches.queue_rows(page.items, user),
                           sort=sort, sorts=matches.SORTS, return_args=_queue_args(), select_form=ApproveManyForm(),
                           run_form=_run_form(areas), runs=jobs.status_rows(areas),
                           no_shows=match_lifecycle.recent_no_shows(user),
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
    return _back_to(match)


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


@bp.post("/matches/<int:match_id>/hold")
def hold(match_id: int):
    """Hold a proposal for review: it no longer approves itself (its offer opted in) and waits for a decision."""
    match = _load(match_id)
    label = matches.match_label(match)
    try:
        held = auto_approval.hold(match, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(f"{label} was not held. {error.message}", "danger")
    else:
        flash(f"{label} is held for your review: it will not approve itself." if held else
              f"{label} was not waiting to approve itself: it already waits for a decision.",
              "success" if held else "info")
    return _back_to(match)


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
    """Queue a matching run for one of the coordinator's areas (`flask jobs work` runs it; its unapproved proposals
    are then replaced by the new ones). Pressing it again while one is queued or running queues nothing more."""
    form = _run_form()
    if not form.validate_on_submit():
        flash(" ".join(message for messages in form.errors.values() for message in messages), "danger")
        return _back()
    area = db.get_or_404(Area, form.area_id.data)
    queued = jobs.enqueue_matching(area, by=current_user, ip=request.remote_addr)
    if queued.already:
        flash(f"Matching for {area.name} is already {queued.job.status}: the proposals appear here when it has run.",
              "info")
    else:
        flash(f"Matching for {area.name} is queued: the proposals appear here when it has run (usually within a "
              "minute).", "success")
    return _back()


# --- after approval: the match's own page and what the people involved do there ------------------------------------

def _load_involved(match_id: int) -> Match:
    match = db.get_or_404(Match, match_id)
    if not policy.can_see_match(current_user, match):
        abort(403)
    return match


def _to_match(match: Match):
    return redirect(url_for(".view", match_id=match.id))


@bp.get("/matches/mine")
def mine():
    """The provider's or school's own matches, newest activity first, by status group, with each one's next step."""
    group = my_matches.group_key(request.args.get("show"))
    listing = my_matches.page_for(signed_in_user(), group=group, page=request.args.get("page", 1, type=int))
    return render_template("matches/mine.html", listing=listing, groups=my_matches.GROUPS,
                           filter_args={"show": group} if group != my_matches.DEFAULT_GROUP else {})


@bp.get("/matches/<int:match_id>")
def view(match_id: int):
    """One match for the provider, the school and the area's coordinators: facts, session, history, actions."""
    match = _load_involved(match_id)
    return render_template("matches/view.html", match=match, label=matches.match_label(match),
                           auto_approval=auto_approval.waiting_text(match, match.offer),
                           can_hold=policy.can_decide_match(current_user, match),
                           facts=match_lifecycle.facts(match), acceptance=match_lifecycle.acceptance(match),
                           session=match_lifecycle.session_facts(match),
                           scheduling_note=match_lifecycle.scheduling_note(match),
                           history=match_lifecycle.history(match),
                           actions=match_lifecycle.actions_for(current_user, match),
                           register=registers.panel(current_user, match))


@bp.post("/matches/<int:match_id>/accept")
def accept(match_id: int):
    """The user's side accepts an approved match; it is confirmed once both sides have."""
    match = _load_involved(match_id)
    if match_lifecycle.side_of(current_user, match) is None:
        abort(403)
    if not ButtonForm().validate_on_submit():
        flash("The form expired: try again.", "danger")
        return _to_match(match)
    try:
        outcome = match_lifecycle.accept_match(match, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash("You had already accepted this match." if outcome.already else
              "Accepted: the match is confirmed, so the session can be scheduled." if outcome.confirmed else
              "Accepted. The match is confirmed once the other side accepts too.",
              "info" if outcome.already else "success")
    return _to_match(match)


def _reason_page(match: Match, *, action: str, title: str, button: str, service, done: str):
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            service(match, by=current_user, reason=form.reason.data, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _to_match(match)
            attach_error(form, error)
        else:
            flash(done, "success")
            return _to_match(match)
    allowed = any(a.endpoint == f"matches.{action}" for a in match_lifecycle.actions_for(current_user, match))
    return render_template("matches/reason.html", form=form, match=match, title=title, button=button,
                           action=f"matches.{action}", allowed=allowed, facts=match_lifecycle.facts(match),
                           status=match_status_label(match.status).lower())


@bp.route("/matches/<int:match_id>/decline", methods=["GET", "POST"])
def decline(match_id: int):
    """Decline an approved match with a reason; its places go back to the offer."""
    match = _load_involved(match_id)
    if match_lifecycle.side_of(current_user, match) is None:
        abort(403)
    return _reason_page(match, action="decline", title=f"Decline {matches.match_label(match)}",
                        button="Decline match", service=match_lifecycle.decline_match,
                        done="Declined. We have emailed the other side and the coordinator.")


@bp.route("/matches/<int:match_id>/cancel", methods=["GET", "POST"])
def cancel(match_id: int):
    """Cancel a match (the form is the confirmation step); its places go back to the offer."""
    match = _load_involved(match_id)
    return _reason_page(match, action="cancel", title=f"Cancel {matches.match_label(match)}",
                        button="Cancel match", service=match_lifecycle.cancel_match,
                        done="Cancelled. We have emailed everyone involved.")


@bp.route("/matches/<int:match_id>/schedule", methods=["GET", "POST"])
def schedule(match_id: int):
    """Set or change the session's date, time, place or video link, and contact on the day."""
    match = _load_involved(match_id)
    starts = match.session_starts_at
    form = ScheduleForm(data={"day": starts.date() if starts else None, "start": starts.time() if starts else None,
                              "minutes": match.session_minutes, "place": match.session_place,
                              "link": match.session_link, "contact": match.session_contact})
    if form.validate_on_submit():
        details = match_lifecycle.SessionDetails(
            starts_at=datetime.combine(form.day.data, form.start.data), minutes=form.minutes.data,
            place=form.place.data, link=form.link.data, contact=form.contact.data)
        try:
            match_lifecycle.schedule_match(match, details, by=current_user, ip=request.remote_addr)
        except match_lifecycle.SessionInvalid as error:
            for field, message in error.problems.items():
                attach_error(form, PortalError(message, field=field))
        except PortalError as error:
            flash(error.message, "danger")
            return _to_match(match)
        else:
            flash("The session is scheduled. We have emailed both sides.", "success")
            return _to_match(match)
    allowed = any(a.endpoint == "matches.schedule" for a in match_lifecycle.actions_for(current_user, match))
    return render_template("matches/schedule.html", form=form, match=match, label=matches.match_label(match),
                           allowed=allowed, virtual=match.offer.delivery == Delivery.VIRTUAL,
                           facts=match_lifecycle.facts(match), status=match_status_label(match.status).lower())


@bp.post("/matches/<int:match_id>/no-show")
def no_show(match_id: int):
    """Record that one side did not turn up to a session that has started."""
    match = _load_involved(match_id)
    form = NoShowForm()
    if not form.validate_on_submit():
        flash("Choose the side that did not turn up.", "danger")
        return _to_match(match)
    try:
        match_lifecycle.record_no_show(match, form.side.data, by=current_user, ip=request.remote_addr)
    except NotAllowed:
        abort(403)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash("The no-show is recorded and shown to the coordinator.", "success")
    return _to_match(match)
