"""Levy transfer pledges: levy payers pledge and decide; smaller employers browse, apply, accept or withdraw;
coordinators read their areas' pledges."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.models import Pledge, PledgeApplication, PledgeStatus
from portal.pledges.forms import ApplicationForm, BrowseForm, ButtonForm, PledgeForm, RejectForm, WithdrawForm
from portal.services import pledges

bp = Blueprint("pledges", __name__)


def _load(pledge_id: int) -> Pledge:
    pledge = db.get_or_404(Pledge, pledge_id)
    if not policy.can_see_pledge(current_user, pledge):
        abort(403)
    return pledge


def _load_application(application_id: int, check) -> PledgeApplication:
    application = db.get_or_404(PledgeApplication, application_id)
    if not check(current_user, application):
        abort(403)
    return application


def _as_pledger(user, application) -> bool:
    return policy.can_manage_pledge(user, application.pledge)


def _confirmation_page(action: str, form, application):
    """The confirmation step of an action on an application (pledges/<action>.html): whether the action is still
    open to this user (the page says so when it is not), and the application's status in words."""
    allowed = any(a.endpoint == f"pledges.{action}" for a in pledges.actions_for(current_user, application))
    return render_template(f"pledges/{action}.html", form=form, application=application, allowed=allowed,
                           status=pledges.status_label(application.status).lower(), pounds=pledges.pounds)


def _to_pledge(pledge_id: int):
    return redirect(url_for(".view", pledge_id=pledge_id))


@bp.get("/pledges")
def index():
    """A levy payer's own pledges; for smaller employers, the open pledges (by sector and level) and their
    applications."""
    if policy.can_pledge(current_user):
        return render_template("pledges/mine.html", pledges=pledges.pledges_of(current_user.organisation_id),
                               waiting=pledges.waiting_count, pounds=pledges.pounds)
    if not policy.can_apply_for_pledges(current_user):
        abort(403)
    form = BrowseForm(request.args)
    form.validate()
    sector = form.sector.data if not form.sector.errors else None
    level = form.level.data if not form.level.errors else None
    rows = [(pledge, pledges.criteria_rows(pledge, current_user.organisation, level))
            for pledge in pledges.open_pledges(sector=sector, level=level)]
    return render_template("pledges/browse.html", form=form, rows=rows, pounds=pledges.pounds,
                           applications=pledges.applications_of(current_user.organisation_id),
                           status_label=pledges.status_label)


@bp.get("/pledges/area")
def area():
    """Pledges of the coordinator's areas (every area for admins), with their applications: read-only."""
    return render_template("pledges/area.html", pledges=pledges.pledges_in_areas(policy.visible_area_ids(current_user)),
                           pounds=pledges.pounds, status_label=pledges.status_label)


@bp.route("/pledges/new", methods=["GET", "POST"])
def create():
    """A levy payer pledges up to half of last year's levy funds, with optional criteria."""
    if not policy.can_pledge(current_user):
        abort(403)
    form = PledgeForm()
    if form.validate_on_submit():
        try:
            pledge = pledges.create_pledge(form.details(), by=current_user, ip=request.remote_addr)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"Your pledge of {pledges.pounds(pledge.amount_pence)} is open to applications.", "success")
            return _to_pledge(pledge.id)
    funds, most = pledges.most_pledgeable(current_user.organisation, today=date.today())
    return render_template("pledges/new.html", form=form, funds=pledges.pounds(funds), most=pledges.pounds(most))


@bp.get("/pledges/<int:pledge_id>")
def view(pledge_id: int):
    """A pledge: its criteria and what is left; the pledger sees its applications, an applicant its own."""
    pledge = _load(pledge_id)
    is_pledger = policy.can_manage_pledge(current_user, pledge)
    if is_pledger or not current_user.organisation_id:
        applications = list(pledge.applications)
    else:
        applications = pledges.applications_of(current_user.organisation_id, pledge.id)
    applicant = current_user.organisation if policy.can_apply_for_pledges(current_user) else None
    return render_template(
        "pledges/view.html", pledge=pledge, facts=pledges.facts(pledge), applications=applications,
        is_pledger=is_pledger, criteria=pledges.criteria_rows(pledge, applicant) if applicant else [],
        can_apply=applicant is not None and pledge.status == PledgeStatus.OPEN,
        can_close=is_pledger and pledge.status == PledgeStatus.OPEN,
        actions={a.id: pledges.actions_for(current_user, a) for a in applications},
        waiting={a.id: pledges.waiting_text(a) for a in applications},
        status_label=pledges.status_label, pounds=pledges.pounds, button_form=ButtonForm())


@bp.route("/pledges/<int:pledge_id>/apply", methods=["GET", "POST"])
def apply(pledge_id: int):
    """A smaller employer applies: every criterion is checked and the amount must fit what is left."""
    pledge = _load(pledge_id)
    if not policy.can_apply_to_pledge(current_user, pledge):
        abort(403)
    form = ApplicationForm(data={"town": current_user.organisation.town})
    if form.validate_on_submit():
        try:
            application = pledges.apply(pledge, form.details(), by=current_user, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _to_pledge(pledge.id)
            attach_error(form, error)
        else:
            flash(f"Your application is sent. It is {pledges.status_label(application.status).lower()}.", "success")
            return _to_pledge(pledge.id)
    return render_template("pledges/apply.html", form=form, pledge=pledge, facts=pledges.facts(pledge),
                           criteria=pledges.criteria_rows(pledge, current_user.organisation),
                           open=pledge.status == PledgeStatus.OPEN)


@bp.route("/pledges/<int:pledge_id>/close", methods=["GET", "POST"])
def close(pledge_id: int):
    """Close a pledge (the page is the confirmation step): applications awaiting a decision are rejected."""
    pledge = _load(pledge_id)
    if not policy.can_manage_pledge(current_user, pledge):
        abort(403)
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            rejected = pledges.close_pledge(pledge, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash("The pledge is closed." + (f" {rejected} waiting application{'s were' if rejected != 1 else ' was'} "
                                             "rejected and the applicants told." if rejected else ""), "success")
        return _to_pledge(pledge.id)
    return render_template("pledges/close.html", form=form, pledge=pledge, facts=pledges.facts(pledge),
                           open=pledge.status == PledgeStatus.OPEN, waiting=pledges.waiting_count(pledge))


@bp.post("/pledges/applications/<int:application_id>/approve")
def approve(application_id: int):
    """The pledger approves an application: its amount is reserved from the pledge, or the pledger is told why not."""
    application = _load_application(application_id, _as_pledger)
    if not ButtonForm().validate_on_submit():
        flash("The form expired: try again.", "danger")
        return _to_pledge(application.pledge_id)
    try:
        outcome = pledges.approve(application, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(f"{application.applicant.name}'s application was not approved. {error.message}", "danger")
    else:
        flash(f"{application.applicant.name}'s application is already approved." if outcome.already else
              f"{application.applicant.name}'s application is approved: {pledges.pounds(application.amount_pence)} "
              "is reserved for it. We have emailed the applicant.", "info" if outcome.already else "success")
    return _to_pledge(application.pledge_id)


@bp.route("/pledges/applications/<int:application_id>/reject", methods=["GET", "POST"])
def reject(application_id: int):
    """The pledger rejects an application with a reason (the form is the confirmation step)."""
    application = _load_application(application_id, _as_pledger)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            pledges.reject(application, by=current_user, reason=form.reason.data, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _to_pledge(application.pledge_id)
            attach_error(form, error)
        else:
            flash(f"{application.applicant.name}'s application is rejected. We have emailed them the reason.",
                  "success")
            return _to_pledge(application.pledge_id)
    return _confirmation_page("reject", form, application)


@bp.route("/pledges/applications/<int:application_id>/use", methods=["GET", "POST"])
def use(application_id: int):
    """The pledger records the accepted transfer as used (a spend on its levy account); the page confirms."""
    application = _load_application(application_id, _as_pledger)
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            pledges.record_funds_used(application, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash(f"The transfer of {pledges.pounds(application.amount_pence)} to {application.applicant.name} is "
                  "recorded as used on your levy account.", "success")
        return _to_pledge(application.pledge_id)
    return _confirmation_page("use", form, application)


@bp.post("/pledges/applications/<int:application_id>/accept")
def accept(application_id: int):
    """The applicant accepts its approved application."""
    application = _load_application(application_id, policy.can_act_as_applicant)
    if not ButtonForm().validate_on_submit():
        flash("The form expired: try again.", "danger")
        return _to_pledge(application.pledge_id)
    try:
        changed = pledges.accept(application, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash("Accepted. The pledger records the transfer once the funds are used." if changed else
              "You had already accepted this application.", "success" if changed else "info")
    return _to_pledge(application.pledge_id)


@bp.route("/pledges/applications/<int:application_id>/withdraw", methods=["GET", "POST"])
def withdraw(application_id: int):
    """The applicant withdraws before accepting (the page is the confirmation step)."""
    application = _load_application(application_id, policy.can_act_as_applicant)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            pledges.withdraw(application, by=current_user, reason=form.reason.data, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _to_pledge(application.pledge_id)
            attach_error(form, error)
        else:
            flash("Your application is withdrawn. We have told the pledger.", "success")
            return _to_pledge(application.pledge_id)
    return _confirmation_page("withdraw", form, application)
