"""Progress pages: the careers lead's school, the coordinator's areas, a provider's impact; leavers' destinations."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import paging, policy
from portal.errors import PortalError, StaleEdit
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.models import Area, Organisation
from portal.progress.forms import ButtonForm, chosen, destinations_form
from portal.services import counting, destinations, progress

bp = Blueprint("progress", __name__)


def _own_organisation() -> Organisation:
    organisation = current_user.organisation
    if organisation is None:
        abort(403)
    return organisation


def _area(area_id: int) -> Area:
    area = db.get_or_404(Area, area_id)
    if not policy.can_see_area(current_user, area.id):
        abort(403)
    return area


@bp.get("/progress")
def index():
    """The careers lead's school: pupils per year group at each step toward the target, Benchmark 5, and the pupils
    below the target in "who to send" order."""
    school = _own_organisation()
    if not counting.target_applies(school.phase):
        # A primary school: the secondary target does not apply, so no chart of zeros; its kits are its encounters.
        return render_template("progress/primary.html", school=school, target=counting.target_text(school.area))
    today = date.today()
    year = progress.chosen_year(request.args.get("year"), today)
    summary = progress.school_progress(school, today=today, year=year)
    page = paging.paginate(progress.below_target_query(school), per_page=progress.PER_PAGE)
    this_year = progress.year_contacts([pupil.id for pupil in page.items], year)
    return render_template("progress/index.html", summary=summary, page=page, this_year=this_year,
                           chart=progress.chart(summary), years=progress.year_choices(today),
                           show_names=school.names_opt_in, args={"year": year} if not summary.is_current_year else {})


@bp.get("/progress/areas")
def areas():
    """The areas whose progress the coordinator may see (every area for admins)."""
    visible = policy.visible_area_ids(current_user)
    rows = progress.areas_for(visible)
    if len(rows) == 1:
        return redirect(url_for(".area", area_id=rows[0].id))
    return render_template("progress/areas.html", areas=rows)


@bp.get("/progress/areas/<int:area_id>")
def area(area_id: int):
    """Per school of the area: progress toward the target, Benchmark 5, the at-risk cohort, providers engaged and
    leavers' not-knowns. No pupil rows at all."""
    area = _area(area_id)
    today = date.today()
    year = progress.chosen_year(request.args.get("year"), today)
    overview = progress.area_overview(area, today=today, year=year)
    return render_template("progress/area.html", overview=overview, years=progress.year_choices(today),
                           form=ButtonForm(), many_pct=destinations.MANY_NOT_KNOWN_PCT,
                           many=destinations.MANY_NOT_KNOWN)


@bp.post("/progress/areas/<int:area_id>/schools/<int:school_id>/remind")
def remind(area_id: int, school_id: int):
    """Email a school's careers leads to record their leavers' destinations."""
    area = _area(area_id)
    school = db.get_or_404(Organisation, school_id)
    if school.area_id != area.id or not school.is_school:
        abort(404)
    form = ButtonForm()
    if not form.validate_on_submit():
        flash("The form expired. Press the button again.", "danger")
    else:
        try:
            mailed = destinations.send_reminder(school, by=current_user, today=date.today(), ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash(f"We have emailed {school.name}'s careers lead{'' if mailed == 1 else 's'} a reminder.", "success")
    return redirect(url_for(".area", area_id=area.id))


@bp.get("/impact")
def impact():
    """The impact of the provider's own offers in an academic year: counts only."""
    provider = _own_organisation()
    today = date.today()
    year = progress.chosen_year(request.args.get("year"), today)
    return render_template("progress/impact.html", impact=progress.provider_impact(provider, today=today, year=year),
                           years=progress.year_choices(today), provider=provider)


@bp.route("/destinations", methods=["GET", "POST"], endpoint="destinations")
def destinations_page():
    """The school's leavers, each with a destination to record; a page is saved in one go."""
    school = _own_organisation()
    page = paging.paginate(destinations.leavers_query(school), per_page=destinations.PER_PAGE)
    form = destinations_form(page.items, request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                changed = destinations.record_destinations(school, chosen(form), by=current_user,
                                                           ip=request.remote_addr)
            except PortalError as error:
                attach_error(form, error)
                status = 409 if isinstance(error, StaleEdit) else 400
            else:
                flash(f"Saved: {changed} destination{'' if changed == 1 else 's'} changed." if changed
                      else "Nothing changed.", "success")
                return redirect(url_for(".destinations", page=page.page) if page.page > 1 else url_for(".destinations"))
        else:
            status = 400
    return render_template("progress/destinations.html", form=form, page=page, show_names=school.names_opt_in,
                           labels=destinations.label), status
