"""Administration pages: areas and their settings, people's roles, areas and status."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import paging
from portal.admin.forms import (
    AreaForm,
    AreaSettingsForm,
    AreaWeightsForm,
    ResetWeightsForm,
    UserEditForm,
    UserSearchForm,
)
from portal.errors import PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.matching.weights import DEFAULT_WEIGHTS
from portal.models import Area, User, UserStatus
from portal.services import admin, matching
from portal.vocab import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 50
STATUS_LABELS = {
    UserStatus.ACTIVE: "Active",
    UserStatus.DISABLED: "Disabled",
    UserStatus.PENDING: "Pending verification",
    UserStatus.REJECTED: "Rejected",
}


@bp.route("/areas", methods=["GET", "POST"])
def areas():
    """List the areas with their organisations and coordinators; add an area."""
    form = AreaForm()
    if form.validate_on_submit():
        try:
            area = admin.create_area(form.name.data, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"Area {area.name} added.", "success")
            return redirect(url_for("admin.areas"))
    return render_template("admin/areas.html", form=form, rows=admin.areas_with_counts())


@bp.route("/areas/<int:area_id>", methods=["GET", "POST"])
def area_edit(area_id: int):
    """Change an area's counting settings and how long proposals wait for a decision."""
    area = db.get_or_404(Area, area_id)
    form = AreaSettingsForm(obj=area)
    if form.validate_on_submit():
        try:
            changed = admin.update_area_settings(
                area, contact_target=form.contact_target.data, distinct_providers=form.distinct_providers.data,
                proposal_expiry_days=form.proposal_expiry_days.data, by=current_user, ip=request.remote_addr,
                retention_years=form.retention_years.data,
            )
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"Settings for {area.name} saved." if changed else "Nothing changed.", "success")
            return redirect(url_for("admin.area_edit", area_id=area.id))
    return render_template("admin/area_edit.html", form=form, area=area)


@bp.route("/areas/<int:area_id>/weights", methods=["GET", "POST"])
def area_weights(area_id: int):
    """Tune how matching values a pairing in one area; only what differs from the defaults is stored.
    "Reset to defaults" (action=reset) asks for confirmation first."""
    area = db.get_or_404(Area, area_id)
    if request.method == "POST" and request.form.get("action") == "reset":
        reset = ResetWeightsForm()
        if not (reset.validate_on_submit() and reset.confirmed.data):
            return render_template("admin/area_weights_reset.html", form=reset, area=area)
        changes = admin.set_area_weights(area, {}, by=current_user, ip=request.remote_addr)
        flash(f"{area.name} uses the default weights again." if changes else "Nothing changed.", "success")
        return redirect(url_for("admin.area_weights", area_id=area.id))
    form = AreaWeightsForm.for_weights(matching.area_weights(area))
    if form.validate_on_submit():
        try:
            changes = admin.set_area_weights(area, form.values(), by=current_user, ip=request.remote_addr)
        except admin.WeightsInvalid as error:
            for field, message in error.problems.items():
                attach_error(form, PortalError(message, field=field or None))
        else:
            flash(f"Matching weights for {area.name} saved." if changes else "Nothing changed.", "success")
            return redirect(url_for("admin.area_weights", area_id=area.id))
    return render_template("admin/area_weights.html", form=form, area=area,
                           overridden=sorted(area.matching_weights or {}),
                           default_tiers=admin.weight_text("load_tiers", DEFAULT_WEIGHTS.load_tiers))


@bp.get("/users")
def users():
    """Find people by email or name, role and status."""
    form = UserSearchForm(formdata=request.args)
    form.role.choices = [("", "Any role"), *((role.value, label) for role, label in ROLE_LABELS.items())]
    form.status.choices = [("", "Any status"), *((status.value, label) for status, label in STATUS_LABELS.items())]
    form.validate()
    query = admin.users_query(search=form.q.data, role=form.role.data or None, status=form.status.data or None)
    filter_args = {name: request.args[name] for name in ("q", "role", "status") if request.args.get(name)}
    return render_template(
        "admin/users.html", form=form, users=paging.paginate(query, per_page=PER_PAGE), filter_args=filter_args,
        role_labels=ROLE_LABELS, status_labels=STATUS_LABELS,
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    """Change a person's role, coordinator areas and status (active or disabled)."""
    user = db.get_or_404(User, user_id)
    form = UserEditForm(data={"role": user.role, "areas": sorted(user.area_ids), "status": user.status})
    form.role.choices = [(role.value, label) for role, label in ROLE_LABELS.items()]
    form.areas.choices = [(area.id, area.name) for area in admin.all_areas()]
    form.status.choices = [(s.value, STATUS_LABELS[s]) for s in admin.ADMIN_STATUSES]
    if user.status not in admin.ADMIN_STATUSES:
        form.status.choices.insert(0, (user.status, STATUS_LABELS[UserStatus(user.status)]))
    if form.validate_on_submit():
        try:
            changes = admin.update_user(user, role=form.role.data, area_ids=form.areas.data,
                                        status=form.status.data, by=current_user, ip=request.remote_addr)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(f"{user.name}’s account saved." if changes.any else "Nothing changed.", "success")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/user_edit.html", form=form, user=user, is_self=user.id == current_user.id,
                           role_labels=ROLE_LABELS, status_labels=STATUS_LABELS)
