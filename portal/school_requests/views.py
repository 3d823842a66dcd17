"""Schools' requests for encounters: the list, asking, the request's page, version-checked edits, withdrawal."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import paging, policy
from portal.errors import InvalidState, PortalError, StaleEdit
from portal.extensions import db
from portal.models import Organisation, SchoolRequest
from portal.school_requests.forms import ChooseSchoolForm, RequestFilterForm, WithdrawForm, request_form
from portal.services import school_requests
from portal.vocab import Role

bp = Blueprint("school_requests", __name__)


def _is_staff() -> bool:
    return current_user.role in (Role.COORDINATOR, Role.ADMIN)


def _load(request_id: int) -> SchoolRequest:
    school_request = db.get_or_404(SchoolRequest, request_id)
    if not policy.can_manage_request(current_user, school_request):
        abort(403)
    return school_request


@bp.get("/requests")
def index():
    """A careers lead's requests for their school; a coordinator's for their areas, filtered by school and status."""
    form = RequestFilterForm(request.args)
    form.set_schools(school_requests.schools_for(current_user) if _is_staff() else None)
    filters = form.filters()
    query = school_requests.requests_query(current_user, **filters)
    page = paging.paginate(query, per_page=school_requests.PER_PAGE)
    ask_args = {"school_id": filters["school_id"]} if _is_staff() and filters["school_id"] else {}
    return render_template("school_requests/index.html", form=form, page=page, filter_args=form.query_args(),
                           rows=school_requests.rows_for(page.items), show_school=_is_staff(),
                           ask_url=url_for(".create", **ask_args))


def _school_to_ask_for() -> Organisation | None:
    """The school a new request is for: a careers lead's own; for staff the ?school_id= one (None: not chosen)."""
    school_id = request.args.get("school_id", type=int)
    if current_user.role == Role.CAREERS_LEAD:
        school = current_user.organisation
        if school is None or (school_id is not None and school_id != school.id):
            abort(403)
    elif "school_id" not in request.args:
        return None
    elif school_id is None:  # ?school_id=abc
        abort(404)
    else:
        school = db.get_or_404(Organisation, school_id)
    if not school_requests.may_ask_for(current_user, school):
        abort(403)
    return school


@bp.route("/requests/new", methods=["GET", "POST"])
def create():
    """Ask for an encounter: a careers lead for their school, a coordinator for a school of their areas."""
    school = _school_to_ask_for()
    if school is None:  # a coordinator first picks the school
        form = ChooseSchoolForm(request.args)
        form.school_id.choices = {str(s.id): s.name for s in school_requests.schools_for(current_user)}
        return render_template("school_requests/choose_school.html", form=form)
    form = request_form(school)
    if form.validate_on_submit():
        try:
            created = school_requests.create_request(school, form.details(), by=current_user,
                                                     ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"Your request \u201c{created.title}\u201d is posted. Proposals will appear on its page.",
                  "success")
            return redirect(url_for(".view", request_id=created.id))
    return render_template("school_requests/form.html", form=form, school=school, school_request=None,
                           action=url_for(".create", school_id=school.id), cancel_url=url_for(".index"))


def _offer_link(offer) -> str | None:
    """A link to the offer for those who may see it (a careers lead: only while it is published)."""
    return url_for("offers.view", offer_id=offer.id) if policy.can_see_offer(current_user, offer) else None


@bp.get("/requests/<int:request_id>")
def view(request_id: int):
    """A request, what it asks for, and the matches proposed or agreed for it."""
    school_request = _load(request_id)
    matches = [
        {"title": m.offer.title, "link": _offer_link(m.offer), "provider": m.offer.provider.name,
         "allocation": m.allocation, "status": school_requests.match_status_label(m.status),
         "reasons": m.reasons or "", "page": url_for("matches.view", match_id=m.id)}
        for m in school_requests.matches_of(school_request)
    ]
    return render_template(
        "school_requests/view.html", school_request=school_request, facts=school_requests.facts(school_request),
        matches=matches, unplaced=school_requests.unplaced(school_request),
        can_edit=school_request.status in school_requests.EDITABLE,
        can_withdraw=school_request.status in school_requests.WITHDRAWABLE,
    )


def _not_in_state(school_request: SchoolRequest, message: str):
    flash(message, "warning")
    return redirect(url_for(".view", request_id=school_request.id))


@bp.route("/requests/<int:request_id>/edit", methods=["GET", "POST"])
def edit(request_id: int):
    """Edit a live request. The form carries the version it was loaded at, so a second editor is told."""
    school_request = _load(request_id)
    if school_request.status not in school_requests.EDITABLE:
        label = school_requests.request_status_label(school_request.status).lower()
        return _not_in_state(school_request, f"This request is {label}: it can no longer be changed.")
    form = request_form(school_request.school, school_request)
    status = 200
    if form.validate_on_submit():
        try:
            school_requests.update_request(school_request, form.details(), by=current_user,
                                           expected_version=int(form.version.data), ip=request.remote_addr)
        except StaleEdit as error:
            form.show_conflict(error, school_request.version)
            status = 409
        except InvalidState as error:
            return _not_in_state(school_request, error.message)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"\u201c{school_request.title}\u201d: changes saved.", "success")
            return redirect(url_for(".view", request_id=school_request.id))
    return render_template("school_requests/form.html", form=form, school=school_request.school,
                           school_request=school_request, cancel_url=url_for(".view", request_id=request_id),
                           action=url_for(".edit", request_id=request_id)), status


@bp.route("/requests/<int:request_id>/withdraw", methods=["GET", "POST"])
def withdraw(request_id: int):
    """Withdraw a request after a confirmation page; proposals waiting on it are withdrawn too."""
    school_request = _load(request_id)
    if school_request.status not in school_requests.WITHDRAWABLE:
        label = school_requests.request_status_label(school_request.status).lower()
        return _not_in_state(school_request, f"This request is {label}: there is nothing to withdraw.")
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            effects = school_requests.withdraw_request(school_request, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            cancelled = {0: "", 1: " 1 proposal waiting on it was withdrawn too."}.get(
                effects.proposals, f" {effects.proposals} proposals waiting on it were withdrawn too.")
            flash(f"\u201c{school_request.title}\u201d is withdrawn.{cancelled}", "success")
        return redirect(url_for(".view", request_id=school_request.id))
    return render_template("school_requests/withdraw.html", form=form, school_request=school_request,
                           effects=school_requests.withdrawal_effects(school_request))
