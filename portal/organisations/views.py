"""Organisation profiles, their version-checked edits, the coordinators' list, and the places lookup."""
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from portal import geo, paging, policy
from portal.errors import PortalError, StaleEdit
from portal.extensions import db
from portal.models import Organisation
from portal.organisations.forms import OrganisationFilterForm, edit_form
from portal.services import counting, organisations
from portal.vocab import Role

bp = Blueprint("organisations", __name__)


@bp.get("/places")
def places():
    """Towns whose names start with (then contain) `q`, for search-as-you-type in static/js/places.js."""
    found = geo.search_places(request.args.get("q", "")[:100], limit=10)
    return jsonify([
        {"id": p.geonameid, "name": p.name, "label": p.label, "latitude": p.latitude, "longitude": p.longitude}
        for p in found
    ])


@bp.get("/organisation")
def mine():
    """A provider's or careers lead's own organisation."""
    return redirect(url_for(".view", org_id=current_user.organisation_id))


@bp.get("/organisations")
def index():
    """Organisations in the coordinator's areas (every area for admins), filtered and paged."""
    form = OrganisationFilterForm(request.args)
    form.set_areas(organisations.areas_for(current_user))
    query = organisations.organisations_query(current_user, **form.filters())
    page = paging.paginate(query, per_page=organisations.PER_PAGE)
    return render_template("organisations/index.html", form=form, page=page, filter_args=form.query_args(),
                           kind_label=organisations.kind_label, status_label=organisations.status_label)


@bp.get("/organisations/<int:org_id>")
def view(org_id: int):
    """An organisation's profile, its people, and an Edit link for those who may edit."""
    org = db.get_or_404(Organisation, org_id)
    if not policy.can_view_organisation(current_user, org):
        abort(403)
    return render_template(
        "organisations/view.html", org=org, profile=organisations.profile(org),
        members=organisations.members_of(org), status=organisations.status_label(org.status),
        can_edit=policy.can_edit_organisation(current_user, org),
    )


@bp.route("/organisations/<int:org_id>/edit", methods=["GET", "POST"])
def edit(org_id: int):
    """Edit a profile. The form carries the version it was loaded at, so a second editor is told."""
    org = db.get_or_404(Organisation, org_id)
    if not policy.can_edit_organisation(current_user, org):
        abort(403)
    is_staff = current_user.role in (Role.COORDINATOR, Role.ADMIN)
    areas = organisations.areas_for(current_user) if current_user.role == Role.ADMIN else None
    form = edit_form(org, urn_editable=is_staff, areas=areas)
    status = 200
    if form.validate_on_submit():
        try:
            organisations.update_organisation(org, by=current_user, expected_version=int(form.version.data),
                                              ip=request.remote_addr, **form.service_arguments())
        except StaleEdit as error:
            form.show_conflict(error, org.version)
            status = 409
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"{org.name}: changes saved.", "success")
            return redirect(url_for(".view", org_id=org.id))
    return render_template("organisations/edit.html", org=org, form=form,
                           target=counting.target_text(org.area)), status
