"""A school's roster, for its own careers leads only: the list, one pupil, hand edits, leaving, and imports."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import paging, policy
from portal.errors import InvalidState, PortalError, StaleEdit
from portal.extensions import db
from portal.models import Pupil
from portal.pupils.forms import LeaveForm, PupilFilterForm, UploadForm, mapping_form, pupil_form
from portal.services import counting, pupils, roster_import

bp = Blueprint("pupils", __name__)


def _school():
    school = current_user.organisation
    if not policy.can_manage_roster(current_user, school):
        abort(403)
    return school


def _load(pupil_id: int) -> Pupil:
    pupil = db.get_or_404(Pupil, pupil_id)
    if not policy.can_manage_pupil(current_user, pupil):
        abort(403)
    return pupil


@bp.get("/pupils")
def index():
    """The school's pupils, 50 a page, filtered by year, form, flag and status; searched by reference or name."""
    school = _school()
    form = PupilFilterForm(request.args)
    form.set_choices(pupils.school_years(school), pupils.form_groups(school))
    query = pupils.pupils_query(school, form.filters(), names=school.names_opt_in)
    page = paging.paginate(query, per_page=pupils.PER_PAGE)
    return render_template("pupils/index.html", form=form, page=page, filter_args=form.query_args(),
                           names=school.names_opt_in, rows=pupils.rows_for(page.items, names=school.names_opt_in))


@bp.route("/pupils/new", methods=["GET", "POST"])
def create():
    """Add a pupil by hand (a new arrival before the next import)."""
    school = _school()
    form = pupil_form(school)
    if form.validate_on_submit():
        try:
            pupil = pupils.add_pupil(school, form.details(), by=current_user, ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"Pupil {pupil.reference} added.", "success")
            return redirect(url_for(".view", pupil_id=pupil.id))
    return render_template("pupils/form.html", form=form, pupil=None, action=url_for(".create"),
                           cancel_url=url_for(".index"))


@bp.get("/pupils/<int:pupil_id>")
def view(pupil_id: int):
    """A pupil's details and contact totals (cumulative, and per academic year)."""
    pupil = _load(pupil_id)
    names = pupil.school.names_opt_in
    return render_template("pupils/view.html", pupil=pupil, facts=pupils.facts(pupil, names=names),
                           title=pupil.display_name if names and pupil.display_name else pupil.reference,
                           years=pupils.year_totals(pupil), can_leave=pupil.on_roll,
                           timeline=counting.pupil_timeline(pupil), target=counting.target_text(pupil.school.area))


@bp.route("/pupils/<int:pupil_id>/edit", methods=["GET", "POST"])
def edit(pupil_id: int):
    """Edit a pupil. The form carries the version it was loaded at, so a second editor is told."""
    pupil = _load(pupil_id)
    form = pupil_form(pupil.school, pupil)
    status = 200
    if form.validate_on_submit():
        try:
            pupils.edit_pupil(pupil, form.details(), expected_version=int(form.version.data or 0), by=current_user,
                              ip=request.remote_addr)
        except StaleEdit as error:
            form.show_conflict(error, pupil.version)
            status = 409
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"Pupil {pupil.reference}: changes saved.", "success")
            return redirect(url_for(".view", pupil_id=pupil.id))
    return render_template("pupils/form.html", form=form, pupil=pupil, action=url_for(".edit", pupil_id=pupil.id),
                           cancel_url=url_for(".view", pupil_id=pupil.id)), status


@bp.route("/pupils/<int:pupil_id>/leave", methods=["GET", "POST"])
def leave(pupil_id: int):
    """Mark a pupil as left after a confirmation page; their record and contacts are kept."""
    pupil = _load(pupil_id)
    form = LeaveForm()
    if form.validate_on_submit():
        try:
            pupils.mark_left(pupil, by=current_user, ip=request.remote_addr)
        except InvalidState as error:
            flash(error.message, "info")
        else:
            flash(f"Pupil {pupil.reference} is marked as left.", "success")
        return redirect(url_for(".view", pupil_id=pupil.id))
    return render_template("pupils/leave.html", form=form, pupil=pupil,
                           title=pupil.display_name if pupil.school.names_opt_in and pupil.display_name
                           else pupil.reference)


@bp.route("/pupils/import", methods=["GET", "POST"])
def upload():
    """Step 1 of an import: upload the MIS export (kept for a day while the columns are checked)."""
    school = _school()
    form = UploadForm()
    if form.validate_on_submit():
        try:
            stored = pupils.create_upload(school, filename=form.file.data.filename or "roster.csv",
                                          content=form.file.data.read(pupils.MAX_UPLOAD_BYTES + 1), by=current_user)
        except PortalError as error:
            form.file.errors.append(error.message)
        else:
            return redirect(url_for(".mapping", token=stored.token))
    return render_template("pupils/upload.html", form=form)


@bp.route("/pupils/import/<token>", methods=["GET", "POST"])
def mapping(token: str):
    """Step 2: match the file's columns to ours, preview the first rows, then import (or see every problem)."""
    school = _school()
    stored = pupils.find_upload(token)
    if stored is None:
        flash("That upload has expired or was already imported. Upload the file again.", "warning")
        return redirect(url_for(".upload"))
    if stored.school_id != school.id:
        abort(403)
    roster = roster_import.read_content(stored.content)
    chosen = roster_import.usable_mapping(pupils.remembered_mapping(school), roster.headings)
    form = mapping_form(roster.headings, chosen, names=school.names_opt_in)
    problems = list(roster.problems)
    if form.validate_on_submit():
        if form.action.data == "import" and not problems:
            outcome = pupils.import_upload(stored, form.mapping(), full_roster=form.full_roster.data,
                                           by=current_user, ip=request.remote_addr)
            if outcome.summary is not None:
                flash(outcome.summary.message, "success")
                return redirect(url_for(".index"))
            problems = outcome.problems
        chosen = form.mapping()
    years = pupils.school_years(school)
    if not school.names_opt_in:  # names are not stored, so the preview does not show them either
        chosen = {name: heading for name, heading in chosen.items() if name != "display_name"}
    preview = roster_import.preview(roster, chosen, years=years) if not roster.problems else []
    for problem in problems:
        if problem.field in form and problem.line is None:
            form[problem.field].errors = [*form[problem.field].errors, problem.message]
    return render_template("pupils/mapping.html", form=form, upload=stored, headings=roster.headings,
                           preview=preview, problems=problems, records=len(roster.records),
                           labels=roster_import.FIELD_LABELS, status=422 if problems else 200), \
        422 if problems and request.method == "POST" else 200
