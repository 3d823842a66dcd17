"""Reports: an area's termly impact report (page, print and CSV), a school's Benchmark 5 report and pupils CSV."""
from datetime import date

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.models import Area
from portal.reports.forms import NoteForm, PeriodForm
from portal.services import progress, reports

bp = Blueprint("reports", __name__)


def _area(area_id: int) -> Area:
    area = db.get_or_404(Area, area_id)
    if not policy.can_see_area(current_user, area.id):
        abort(403)
    return area


def _period():
    """The period form (from the query string) and the period to report: the current term until it is valid."""
    today = date.today()
    form = PeriodForm(request.args)
    default = reports.current_term(today)
    start, end = form.period(default) if form.validate() else default
    if not form.start.data and not form.errors:
        form.start.data = start.isoformat()
    if not form.end.data and not form.errors:
        form.end.data = end.isoformat()
    return form, start, end, today


@bp.route("/reports/areas/<int:area_id>/termly", methods=["GET", "POST"])
def termly(area_id: int):
    """The termly impact report for an area and a period, with the coordinator's planned-activity notes."""
    area = _area(area_id)
    period_form, start, end, today = _period()
    note_form = NoteForm()
    status = 200
    if request.method == "POST":
        if period_form.errors:
            flash("Choose a valid period before saving notes.", "danger")
            status = 400
        elif note_form.validate_on_submit():
            try:
                reports.save_note(area, start, end, note_form.planned_activity.data, by=current_user,
                                  ip=request.remote_addr)
            except PortalError as error:
                attach_error(note_form, error)
                status = 400
            else:
                flash("Planned activity saved.", "success")
                return redirect(url_for(".termly", area_id=area.id, start=start.isoformat(), end=end.isoformat()))
        else:
            status = 400
    report = reports.termly_report(area, start, end, today=today)
    if request.method == "GET":
        note_form.planned_activity.data = report.planned_activity
    return render_template("reports/termly.html", report=report, period_form=period_form, note_form=note_form,
                           period_args={"start": start.isoformat(), "end": end.isoformat()}), status


@bp.get("/reports/areas/<int:area_id>/termly.csv")
def termly_csv(area_id: int):
    area = _area(area_id)
    period_form, start, end, today = _period()
    if period_form.errors:
        abort(400)
    report = reports.termly_report(area, start, end, today=today)
    filename = f"termly-report-{area.id}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(reports.termly_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/reports/benchmark5")
def benchmark5():
    """The school's Benchmark 5 report per year group for an academic year."""
    school = current_user.organisation
    if school is None:
        abort(403)
    today = date.today()
    year = progress.chosen_year(request.args.get("year"), today)
    return render_template("reports/benchmark5.html", summary=progress.school_progress(school, today=today, year=year),
                           years=progress.year_choices(today))


@bp.get("/reports/pupils.csv")
def pupils_csv():
    """The school's pupils' counts as CSV; every export is written to the audit log."""
    school = current_user.organisation
    if school is None:
        abort(403)
    today = date.today()
    try:
        text, _rows = reports.pupils_csv(school, by=current_user, today=today, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
        return redirect(url_for("progress.index"))
    return Response(text, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="pupils-{today.isoformat()}.csv"',
        "Cache-Control": "no-store",
    })
