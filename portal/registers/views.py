"""Registers: the school's careers lead chooses who goes and records attendance; the provider confirms delivery.
Pupils appear only on the school's own pages; the match page shows everyone else counts."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import NotAllowed, PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.models import Match
from portal.registers.forms import AttendanceForm, ButtonForm, RegisterForm
from portal.services import match_lifecycle, registers
from portal.services.matches import match_label
from portal.services.school_requests import match_status_label

bp = Blueprint("registers", __name__)


def _load(match_id: int, allowed) -> Match:
    match = db.get_or_404(Match, match_id)
    if not allowed(current_user, match):
        abort(403)
    return match


def _to_match(match_id: int):
    """Back to the match's page (by the route's id: after a commit the match's attributes would be reloaded)."""
    return redirect(url_for("matches.view", match_id=match_id))


@bp.route("/matches/<int:match_id>/register", methods=["GET", "POST"])
def register(match_id: int):
    """Choose who goes: the suggestion is ticked in who-to-send order; the lead can change it within the places."""
    match = _load(match_id, policy.can_keep_register)
    form = RegisterForm()
    editable = registers.can_fill(match)
    if editable and form.validate_on_submit():
        try:
            change = registers.set_register(match, form.pupil_ids.data, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _to_match(match_id)
            attach_error(form, error)
        else:
            flash(f"The register is saved: {change.total} going (+{change.added}, −{change.removed}).", "success")
            return _to_match(match_id)
    current = registers.register_ids(match)
    if form.is_submitted():
        ticked = set(form.pupil_ids.data or [])
    else:
        ticked = set(current) if current or not editable else {p.id for p in registers.suggest(match)}
    summary = registers.summary(match)
    return render_template("registers/register.html", form=form, match=match, label=match_label(match),
                           editable=editable, rows=registers.pupil_rows(registers.candidates(match), ticked,
                                                       names=match.request.school.names_opt_in),
                           summary=summary, saved=bool(current), facts=match_lifecycle.facts(match),
                           status=match_status_label(match.status).lower())


@bp.route("/matches/<int:match_id>/attendance", methods=["GET", "POST"])
def attendance(match_id: int):
    """After the session: who attended (those sent, by default), the four criteria and reflections."""
    match = _load(match_id, policy.can_keep_register)
    record = registers.record_for(match)
    data = {}
    if record is not None:
        data = {name: getattr(record, name) for name in ("purpose_shared", "learning_outcomes", "two_way",
                                                         "time_to_reflect", "reflections")}
    form = AttendanceForm(data=data)
    allowed = registers.can_record(match)
    if allowed and form.validate_on_submit():
        checklist = registers.Checklist(purpose_shared=form.purpose_shared.data,
                                        learning_outcomes=form.learning_outcomes.data, two_way=form.two_way.data,
                                        time_to_reflect=form.time_to_reflect.data)
        try:
            outcome = registers.record_attendance(match, form.attended.data or [], checklist, form.reflections.data,
                                                  by=current_user, ip=request.remote_addr)
        except PortalError as error:
            if not error.field:
                flash(error.message, "danger")
                return _to_match(match_id)
            attach_error(form, error)
        else:
            if outcome.corrected and not outcome.changes:
                flash("Nothing changed.", "info")
            else:
                flash(f"{'Corrected' if outcome.corrected else 'Recorded'}: {outcome.attended} of {outcome.sent} "
                      f"attended. Their counts are updated.", "success")
            return _to_match(match_id)
    entries = registers.entries(match)
    if form.is_submitted():
        ticked = set(form.attended.data or [])
    elif record is not None:
        ticked = {entry.pupil_id for entry in entries if entry.attended}
    else:
        ticked = {entry.pupil_id for entry in entries}
    return render_template("registers/attendance.html", form=form, match=match, label=match_label(match),
                           allowed=allowed, started=registers.has_started(match), recorded=record is not None,
                           rows=registers.pupil_rows([entry.pupil for entry in entries], ticked,
                                                       names=match.request.school.names_opt_in),
                           facts=match_lifecycle.facts(match), session=match_lifecycle.session_facts(match),
                           status=match_status_label(match.status).lower(), target=registers.target_text(match))


@bp.post("/matches/<int:match_id>/confirm-delivery")
def confirm_delivery(match_id: int):
    """The provider confirms from its side that the session was delivered."""
    match = _load(match_id, policy.can_confirm_delivery)
    if not ButtonForm().validate_on_submit():
        flash("The form expired: try again.", "danger")
        return _to_match(match_id)
    try:
        outcome = registers.confirm_delivery(match, by=current_user, ip=request.remote_addr)
    except NotAllowed:
        abort(403)
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash("You had already confirmed delivery." if outcome.already else "Thank you: delivery is confirmed.",
              "info" if outcome.already else "success")
    return _to_match(match_id)
