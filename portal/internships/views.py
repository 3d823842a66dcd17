"""NEET internship programmes: the coordinator's list and programme page, interns, the rota (run, edit,
approve, print), and the provider's own placements with "Mark week completed"."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import PortalError
from portal.extensions import db
from portal.internships.forms import ButtonForm, InternForm, MoveForm, ProgrammeForm
from portal.models.internships import PLACEMENT_WEEKS, Intern, InternshipProgramme, Placement, ProgrammeStatus
from portal.services import internships

bp = Blueprint("internships", __name__)


def _programme(programme_id: int) -> InternshipProgramme:
    programme = db.get_or_404(InternshipProgramme, programme_id)
    if not policy.can_manage_programme(current_user, programme):
        abort(403)
    return programme


def _intern(programme: InternshipProgramme, intern_id: int) -> Intern:
    intern = db.get_or_404(Intern, intern_id)
    if intern.programme_id != programme.id or intern.is_control:
        abort(404)
    return intern


def _to_programme(programme: InternshipProgramme, anchor: str | None = None):
    return redirect(url_for(".programme", programme_id=programme.id, _anchor=anchor))


@bp.get("/internships")
def index():
    programmes = internships.programmes_for(current_user)
    return render_template("internships/index.html", programmes=programmes,
                           status_labels=internships.PROGRAMME_STATUS_LABELS, format_date=internships.format_date)


@bp.route("/internships/new", methods=["GET", "POST"])
def create():
    form = ProgrammeForm()
    form.area_id.choices = [(area.id, area.name) for area in internships.areas_for(current_user)]
    if not form.is_submitted() and len(form.area_id.choices) == 1:
        form.area_id.data = form.area_id.choices[0][0]
    if form.validate_on_submit():
        try:
            programme = internships.create_programme(form.area_id.data, form.values(), by=current_user,
                                                     ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"{programme.name} is created. Add its interns next.", "success")
            return _to_programme(programme)
    return render_template("internships/edit.html", form=form, programme=None, heading="New internship programme")


@bp.route("/internships/<int:programme_id>/edit", methods=["GET", "POST"])
def edit(programme_id: int):
    programme = _programme(programme_id)
    form = ProgrammeForm()
    del form.area_id
    form.original = programme
    if not form.is_submitted():
        form.load(programme)
    if form.validate_on_submit():
        try:
            internships.update_programme(programme, form.values(), by=current_user, ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash("The programme is saved.", "success")
            return _to_programme(programme)
    return render_template("internships/edit.html", form=form, programme=programme,
                           heading=f"Change {programme.name}")


@bp.get("/internships/<int:programme_id>")
def programme(programme_id: int):
    programme = _programme(programme_id)
    return render_template(
        "internships/programme.html", programme=programme, interns=internships.interns_of(programme),
        rows=internships.rota_rows(programme), weeks=list(enumerate(programme.week_starts, start=1)),
        status_label=internships.PROGRAMME_STATUS_LABELS.get(programme.status, programme.status),
        age_bands=internships.AGE_BANDS, intern_status=internships.INTERN_STATUS_LABELS,
        format_date=internships.format_date, week_label=internships.week_label, button=ButtonForm(),
        can_run=programme.status in (ProgrammeStatus.DRAFT, ProgrammeStatus.ROTA_PROPOSED),
        can_edit_rota=programme.status == ProgrammeStatus.ROTA_PROPOSED,
        offers_count=len(internships.candidate_offers(programme)),
    )


@bp.route("/internships/<int:programme_id>/interns/new", methods=["GET", "POST"])
def add_intern(programme_id: int):
    programme = _programme(programme_id)
    form = InternForm()
    if form.validate_on_submit():
        try:
            intern = internships.add_intern(programme, form.values(), by=current_user, ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"Intern {intern.reference} is added.", "success")
            return _to_programme(programme, "interns")
    return render_template("internships/intern.html", form=form, programme=programme, intern=None,
                           heading="Add an intern")


@bp.route("/internships/<int:programme_id>/interns/<int:intern_id>/edit", methods=["GET", "POST"])
def edit_intern(programme_id: int, intern_id: int):
    programme = _programme(programme_id)
    intern = _intern(programme, intern_id)
    form = InternForm()
    if not form.is_submitted():
        form.load(intern)
    if form.validate_on_submit():
        try:
            internships.update_intern(intern, form.values(), by=current_user, ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"Intern {intern.reference} is saved.", "success")
            return _to_programme(programme, "interns")
    return render_template("internships/intern.html", form=form, programme=programme, intern=intern,
                           heading=f"Change intern {intern.reference}")


@bp.route("/internships/<int:programme_id>/interns/<int:intern_id>/withdraw", methods=["GET", "POST"])
def withdraw_intern(programme_id: int, intern_id: int):
    """The GET page is the confirmation step; the POST withdraws."""
    programme = _programme(programme_id)
    intern = _intern(programme, intern_id)
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            internships.withdraw_intern(intern, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash(f"Intern {intern.reference} is withdrawn; their weeks not yet done are cancelled.", "success")
        return _to_programme(programme, "interns")
    return render_template("internships/withdraw.html", form=form, programme=programme, intern=intern)


@bp.post("/internships/<int:programme_id>/rota/run")
def run_rota(programme_id: int):
    programme = _programme(programme_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        result = internships.run_rota(programme, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash(f"The rota is proposed: {len(result.placements)} placements, {result.full} of {result.interns} "
              "interns fully placed. Check it below, edit it if needed, then approve it.",
              "success" if not result.shortfalls else "warning")
    return _to_programme(programme, "rota")


@bp.route("/internships/<int:programme_id>/rota/<int:intern_id>/<int:week_no>", methods=["GET", "POST"])
def move(programme_id: int, intern_id: int, week_no: int):
    """Change one intern's placement in one week (or leave the week empty)."""
    programme = _programme(programme_id)
    intern = _intern(programme, intern_id)
    if week_no not in range(1, PLACEMENT_WEEKS + 1):
        abort(404)
    form = MoveForm()
    form.offer_id.choices = [("", "No placement this week"), *internships.offer_choices(programme)]
    current = next((p for p in intern.placements if p.week_no == week_no and p.status != "cancelled"), None)
    if not form.is_submitted() and current is not None:
        form.offer_id.data = current.offer_id
    if form.validate_on_submit():
        try:
            internships.move_placement(programme, intern, week_no, form.offer_id.data, by=current_user,
                                       ip=request.remote_addr)
        except PortalError as error:
            if error.field == "offer_id":
                form.offer_id.errors = [error.message]
            else:
                flash(error.message, "danger")
                return _to_programme(programme, "rota")
        else:
            flash(f"{intern.reference}'s week {week_no} is changed.", "success")
            return _to_programme(programme, "rota")
    monday = programme.week_starts[week_no - 1]
    return render_template("internships/move.html", form=form, programme=programme, intern=intern,
                           week_no=week_no, week=internships.week_label(monday), current=current)


@bp.post("/internships/<int:programme_id>/rota/approve")
def approve(programme_id: int):
    programme = _programme(programme_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        count = internships.approve_rota(programme, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash(f"The rota is approved: {count} placements. We have emailed each provider their interns' references "
              "and weeks. Print the list for the interns below.", "success")
    return _to_programme(programme, "rota")


@bp.get("/internships/<int:programme_id>/print")
def printable(programme_id: int):
    """The list to hand to interns: each intern's weeks, workplaces and mentors."""
    programme = _programme(programme_id)
    return render_template("internships/print.html", programme=programme, rows=internships.rota_rows(programme),
                           weeks=list(enumerate(programme.week_starts, start=1)), week_label=internships.week_label,
                           format_date=internships.format_date)


@bp.get("/internships/placements")
def provider_placements():
    return render_template("internships/placements.html", rows=internships.provider_placements(current_user),
                           button=ButtonForm())


@bp.post("/internships/placements/<int:placement_id>/complete")
def complete(placement_id: int):
    placement = db.get_or_404(Placement, placement_id)
    if not policy.can_complete_placement(current_user, placement):
        abort(403)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        internships.complete_placement(placement, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash(f"Week {placement.week_no} for {placement.intern.reference} is marked completed.", "success")
    if current_user.role == "provider":
        return redirect(url_for(".provider_placements"))
    return _to_programme(placement.intern.programme, "rota")
