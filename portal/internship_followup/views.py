"""The coordinator's pages for an internship programme after the rota: interns' coaching and signposting, the weekly
feedback, the control group, completing the programme, follow-ups and the evaluation."""
from datetime import date

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.internship_followup.forms import (
    ButtonForm,
    CoachingForm,
    ControlMemberForm,
    SignpostingForm,
    chosen,
    follow_ups_form,
)
from portal.models import FOLLOW_UP_MONTHS, Intern, InternshipProgramme, PlacementFeedback, ProgrammeStatus
from portal.services import internship_followup as followup

bp = Blueprint("internship_followup", __name__)

PROGRAMME_PAGE = "internships.programme"  # the programme's own page (rota, placements), if the app has it


def _programme(programme_id: int) -> InternshipProgramme:
    programme = db.get_or_404(InternshipProgramme, programme_id)
    if not policy.can_follow_up_programme(current_user, programme):
        abort(403)
    return programme


def _intern(intern_id: int) -> Intern:
    intern = db.get_or_404(Intern, intern_id)
    if not policy.can_follow_up_programme(current_user, intern.programme):
        abort(403)
    return intern


def _render(template: str, programme: InternshipProgramme, current: str, status: int = 200, **context):
    """A page of the programme with its section links."""
    programme_url = (url_for(PROGRAMME_PAGE, programme_id=programme.id)
                     if PROGRAMME_PAGE in current_app.view_functions else None)
    return render_template(template, programme=programme, current=current, programme_url=programme_url,
                           months_points=FOLLOW_UP_MONTHS,
                           may_complete=programme.status == ProgrammeStatus.ROTA_APPROVED, **context), status


@bp.get("/internships/programmes/<int:programme_id>/coaching")
def interns(programme_id: int):
    """The programme's interns: coaching attended, and the signposting note."""
    programme = _programme(programme_id)
    return _render("internship_followup/interns.html", programme, "interns",
                   interns=followup.programme_interns(programme), coaching=followup.coaching_recorded(programme),
                   sessions=followup.COACHING, form=ButtonForm())


@bp.post("/internships/interns/<int:intern_id>/coaching")
def coaching(intern_id: int):
    """Record that the intern attended the pre-start coaching or the final coaching day."""
    intern = _intern(intern_id)
    form = CoachingForm()
    if not form.validate_on_submit():
        flash("The form expired or was incomplete. Press the button again.", "danger")
    else:
        try:
            followup.record_coaching(intern, form.session.data, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash(f"{followup.COACHING[form.session.data]} recorded for {intern.reference}.", "success")
    return redirect(url_for(".interns", programme_id=intern.programme_id))


@bp.route("/internships/interns/<int:intern_id>/signposting", methods=["GET", "POST"])
def signposting(intern_id: int):
    """The next opportunity the intern was pointed to."""
    intern = _intern(intern_id)
    if intern.is_control:
        abort(404)
    form = SignpostingForm(data={"note": intern.signposting_note})
    if form.validate_on_submit():
        try:
            followup.save_signposting(intern, form.note.data, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"Signposting saved for {intern.reference}.", "success")
            return redirect(url_for(".interns", programme_id=intern.programme_id))
    return _render("internship_followup/signposting.html", intern.programme, "interns",
                   400 if form.errors else 200, intern=intern, form=form)


@bp.get("/internships/programmes/<int:programme_id>/feedback")
def feedback(programme_id: int):
    """Every placement week's feedback from the mentor and the intern."""
    programme = _programme(programme_id)
    return _render("internship_followup/feedback.html", programme, "feedback", rows=followup.feedback_rows(programme),
                   form=ButtonForm(), days=followup.FEEDBACK_LINK_DAYS)


@bp.post("/internships/feedback/<int:feedback_id>/intern-link")
def intern_link(feedback_id: int):
    """Make a fresh link to the intern's form and show it once, to hand on (the portal keeps no contact details)."""
    feedback_row = db.get_or_404(PlacementFeedback, feedback_id)
    programme = _programme(feedback_row.placement.programme_id)
    if not ButtonForm().validate_on_submit():
        flash("The form expired. Press the button again.", "danger")
        return redirect(url_for(".feedback", programme_id=programme.id))
    try:
        token = followup.new_intern_link(feedback_row, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
        return redirect(url_for(".feedback", programme_id=programme.id))
    body, status = _render("internship_followup/intern_link.html", programme, "feedback", feedback=feedback_row,
                           url=url_for("feedback.form", token=token, _external=True), days=followup.FEEDBACK_LINK_DAYS)
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"  # the link is a key: not kept in any cache
    return response


@bp.route("/internships/programmes/<int:programme_id>/control-group", methods=["GET", "POST"])
def control_group(programme_id: int):
    """Comparable young people not on the programme: followed up at the same points, never placed."""
    programme = _programme(programme_id)
    form = ControlMemberForm()
    if form.validate_on_submit():
        member = followup.ControlMember(age_band=form.age_band.data, neet_months=form.neet_months.data,
                                        display_name=form.display_name.data, town=form.town.data)
        try:
            added = followup.add_control_member(programme, member, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"{added.reference} added to the control group.", "success")
            return redirect(url_for(".control_group", programme_id=programme.id))
    return _render("internship_followup/control_group.html", programme, "control", 400 if form.errors else 200,
                   members=followup.control_group(programme), form=form, age_bands=dict(followup.AGE_BANDS))


@bp.route("/internships/programmes/<int:programme_id>/complete", methods=["GET", "POST"])
def complete(programme_id: int):
    """Confirm, then mark the programme completed and plan the follow-ups at 3, 6 and 12 months."""
    programme = _programme(programme_id)
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            planned = followup.complete_programme(programme, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            flash(error.message, "danger")
        else:
            flash(f"{programme.name} is completed: {planned} follow-ups planned.", "success")
            return redirect(url_for(".evaluation", programme_id=programme.id))
    return _render("internship_followup/complete.html", programme, "complete", form=form,
                   ends_on=followup.programme_ends_on(programme))


@bp.route("/internships/programmes/<int:programme_id>/follow-ups/<int:months>", methods=["GET", "POST"])
def follow_ups(programme_id: int, months: int):
    """EET, NEET or not known, for every intern and control-group member at one follow-up point."""
    programme = _programme(programme_id)
    if months not in FOLLOW_UP_MONTHS:
        abort(404)
    today = date.today()
    rows = followup.follow_up_rows(programme, months, today=today)
    form = follow_ups_form(rows, request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        try:
            changed = followup.record_follow_ups(programme, months, chosen(form), by=current_user, today=today,
                                                 ip=request.remote_addr)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"Saved: {changed} status{'' if changed == 1 else 'es'} changed." if changed else "Nothing changed.",
                  "success")
            return redirect(url_for(".follow_ups", programme_id=programme.id, months=months))
    return _render("internship_followup/follow_ups.html", programme, f"follow_ups_{months}",
                   400 if form.errors else 200, months=months, rows=rows, form=form,
                   labels=followup.FOLLOW_UP_LABELS)


@bp.get("/internships/programmes/<int:programme_id>/evaluation")
def evaluation(programme_id: int):
    """The programme's own figures, and its group's EET rates against the control group's at each point."""
    programme = _programme(programme_id)
    return _render("internship_followup/evaluation.html", programme, "evaluation",
                   result=followup.evaluation(programme, today=date.today()), min_known=followup.MIN_KNOWN)
