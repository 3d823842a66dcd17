"""Primary resource kits: careers leads of primary-phase schools ask for kits per class and record their use;
providers see requests for their kits and send them; coordinators see their areas' primary reach."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import NotAllowed, PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.kits.forms import ButtonForm, KitRequestForm
from portal.models import KitRequest, Offer
from portal.models.year_groups import describe as describe_years
from portal.reports.forms import PeriodForm
from portal.services import kits, reports
from portal.vocab import year_label

bp = Blueprint("kits", __name__)


def _school():
    """The careers lead's school, if it teaches primary years; secondary-only schools are refused."""
    if not policy.can_request_kits(current_user):
        abort(403)
    return current_user.organisation


def _load(request_id: int) -> KitRequest:
    kit_request = db.get_or_404(KitRequest, request_id)
    if not (policy.can_manage_kit_request(current_user, kit_request) or policy.can_send_kit(current_user, kit_request)):
        abort(403)
    return kit_request


def _back(kit_request: KitRequest):
    if policy.can_send_kit(current_user, kit_request):
        return redirect(url_for(".provider_requests"))
    return redirect(url_for(".index"))


def _rows(requests: list[KitRequest]) -> list[tuple[KitRequest, list[kits.Action]]]:
    return [(kit_request, kits.actions_for(current_user, kit_request)) for kit_request in requests]


@bp.get("/kits")
def index():
    """Kits the school can ask for (its area's or open to all, with stock left) and its own requests."""
    school = _school()
    return render_template("kits/index.html", school=school, offers=kits.available_kits(school),
                           rows=_rows(kits.requests_of_school(school)), status_label=kits.status_label,
                           years=kits.year_choices(school), year_label=year_label, describe_years=describe_years,
                           apart_from=kits.target_phrase([school.area]))


@bp.route("/kits/<int:offer_id>/request", methods=["GET", "POST"])
def request_kit(offer_id: int):
    """Ask for one kit for one class: one kit is taken from stock, or the lead is told it is out of stock."""
    school = _school()
    offer = db.get_or_404(Offer, offer_id)
    if offer.type != kits.KIT_TYPE:
        abort(404)
    if not policy.can_see_offer(current_user, offer):
        abort(403)
    form = KitRequestForm()
    form.year_group.choices = [("", "Choose a year group"), *kits.year_choices(school)]
    status = 200
    if form.validate_on_submit():
        order = kits.KitOrder(class_name=form.class_name.data, year_group=form.year_group.data,
                              pupils=form.pupils.data, note=form.note.data)
        try:
            kits.request_kit(offer, order, by=current_user, ip=request.remote_addr)
        except kits.OutOfStock as error:
            attach_error(form, error)
            status = 409
        except NotAllowed:
            abort(403)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return redirect(url_for(".index"))
            attach_error(form, error)
            status = 400
        else:
            flash(f"Requested “{offer.title}” for {order.class_name.strip()}. We have emailed the provider.",
                  "success")
            return redirect(url_for(".index"))
    elif request.method == "POST":
        status = 400
    return render_template("kits/request.html", form=form, offer=offer, school=school), status


@bp.post("/kits/requests/<int:request_id>/sent")
def mark_sent(request_id: int):
    """The kit's provider marks it as sent; the school is emailed."""
    kit_request = _load(request_id)
    if not policy.can_send_kit(current_user, kit_request):
        abort(403)
    if not ButtonForm().validate_on_submit():
        flash("The form expired: try again.", "danger")
        return _back(kit_request)
    try:
        kits.mark_sent(kit_request, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash(f"Marked as sent: {kits.describe(kit_request)}. We have emailed the school.", "success")
    return _back(kit_request)


def _confirm(kit_request: KitRequest, *, action: str, title: str, button: str, explain: str, service, done: str,
             danger: bool):
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            service(kit_request, by=current_user, ip=request.remote_addr)
        except NotAllowed:
            abort(403)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash(done, "success")
        return _back(kit_request)
    allowed = any(a.endpoint == f"kits.{action}" for a in kits.actions_for(current_user, kit_request))
    return render_template("kits/confirm.html", form=form, kit_request=kit_request, title=title, button=button,
                           explain=explain, action=f"kits.{action}", allowed=allowed, danger=danger,
                           description=kits.describe(kit_request), status=kits.status_label(kit_request.status),
                           back=url_for(".provider_requests" if policy.can_send_kit(current_user, kit_request)
                                        else ".index"))


@bp.route("/kits/requests/<int:request_id>/used", methods=["GET", "POST"])
def mark_used(request_id: int):
    """The school confirms that the class used the kit: a primary encounter for the class's pupils."""
    kit_request = _load(request_id)
    if not policy.can_manage_kit_request(current_user, kit_request):
        abort(403)
    return _confirm(kit_request, action="mark_used", title="Record that the class used the kit",
                    button="Yes, the class used it",
                    explain="It counts as a primary encounter for the class's pupils, reported apart from "
                            f"{kits.target_phrase([kit_request.school.area])}.",
                    service=kits.mark_used, done=f"Recorded: {kits.describe(kit_request)} was used.", danger=False)


@bp.route("/kits/requests/<int:request_id>/cancel", methods=["GET", "POST"])
def cancel(request_id: int):
    """The school (before the kit is sent) or the provider cancels; the kit goes back to stock."""
    kit_request = _load(request_id)
    other = "provider" if policy.can_manage_kit_request(current_user, kit_request) else "school"
    return _confirm(kit_request, action="cancel", title="Cancel the kit request", button="Cancel the request",
                    explain=f"The kit goes back into stock and we email the {other}.", service=kits.cancel,
                    done=f"Cancelled: {kits.describe(kit_request)}. We have emailed the {other}.", danger=True)


@bp.get("/kits/requests")
def provider_requests():
    """Requests for the provider's kits: schools, classes and class sizes (no pupils)."""
    return render_template("kits/provider_requests.html", rows=_rows(kits.requests_for_provider(
        current_user.organisation_id)), status_label=kits.status_label, year_label=year_label)


@bp.get("/kits/reach")
def reach():
    """Primary reach of the coordinator's areas in a period: classes, pupils and schools, apart from the target."""
    form = PeriodForm(request.args)
    default = reports.current_term(date.today())
    start, end = form.period(default) if form.validate() else default
    if not form.start.data and not form.errors:
        form.start.data = start.isoformat()
    if not form.end.data and not form.errors:
        form.end.data = end.isoformat()
    areas, figures = kits.reach(current_user, start=start, end=end)
    return render_template("kits/reach.html", form=form, areas=areas, reach=figures,
                           area_names={area.id: area.name for area in areas}, apart_from=kits.target_phrase(areas))
