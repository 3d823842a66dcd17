"""Offers: a provider's list, creating (by kind), viewing, version-checked editing, duplicating, and
publishing, pausing, reopening and closing. Coordinators do the same on a provider's behalf."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import paging, policy
from portal.errors import PortalError, StaleEdit
from portal.extensions import db
from portal.models import Offer, OfferStatus, Organisation, OrgKind
from portal.offers.forms import OfferFilterForm, OfferTypeForm, ProviderChoiceForm, StatusForm, offer_form
from portal.services import offer_matches, offers
from portal.vocab import Role

bp = Blueprint("offers", __name__)


def _load_managed(offer_id: int) -> Offer:
    offer = db.get_or_404(Offer, offer_id)
    if not policy.can_manage_offer(current_user, offer):
        abort(403)
    return offer


def _provider_for_new_offer() -> Organisation | None:
    """A provider's own organisation; for coordinators the verified provider of their area named by
    ?provider_id (None when they have not chosen one yet)."""
    if current_user.role == Role.PROVIDER:
        return current_user.organisation
    provider_id = request.args.get("provider_id", type=int)
    if provider_id is None:
        return None
    provider = db.get_or_404(Organisation, provider_id)
    if provider.kind != OrgKind.PROVIDER:
        abort(404)
    if not offers.can_create_for(current_user, provider) or not provider.is_verified:
        abort(403)
    return provider


@bp.get("/offers")
def index():
    """A provider's own offers, or the offers of a coordinator's areas, with places left and requests waiting."""
    form = OfferFilterForm(request.args)
    is_staff = current_user.role != Role.PROVIDER
    if is_staff:
        form.set_providers(offers.providers_for(current_user))
    else:
        del form.provider_id
    filters = form.filters()
    page = paging.paginate(offers.offers_query(current_user, **filters), per_page=offers.PER_PAGE)
    create_args = {"provider_id": filters["provider_id"]} if filters["provider_id"] else {}
    return render_template("offers/index.html", form=form, page=page, rows=offers.rows_for(page.items),
                           filter_args=form.query_args(), show_provider=is_staff,
                           create_url=url_for(".create", **create_args))


@bp.route("/offers/new", methods=["GET", "POST"])
def create():
    """A new offer: choose the provider (coordinators), then the kind, then fill in the form."""
    provider = _provider_for_new_offer()
    if provider is None:
        chooser = ProviderChoiceForm(request.args)
        chooser.set_providers(offers.providers_for(current_user))
        return render_template("offers/choose_provider.html", form=chooser)
    provider_args = {} if current_user.role == Role.PROVIDER else {"provider_id": provider.id}
    type_form = OfferTypeForm(request.args)
    if not type_form.validate():
        if not type_form.chosen.data:
            type_form.type.errors = []  # first visit: nothing chosen yet is not a mistake
        type_form.provider_id.data = provider_args.get("provider_id", "")
        return render_template("offers/choose_type.html", form=type_form, provider=provider,
                               on_behalf=bool(provider_args))
    type_code = type_form.type.data
    form = offer_form(type_code, provider=provider)
    if form.validate_on_submit():
        try:
            offer = offers.create_offer(provider, by=current_user, offer_type=type_code, values=form.values(),
                                        publish=form.publishing, ip=request.remote_addr)
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"{offer.title}: {'published' if offer.is_published else 'saved as a draft'}.", "success")
            return redirect(url_for(".view", offer_id=offer.id))
    return render_template(
        "offers/edit.html", form=form, offer=None, provider=provider, kind=form.kind,
        heading=f"New offer: {form.kind.label.lower()}",
        action=url_for(".create", type=type_code, **provider_args),
        change_type_url=url_for(".create", **provider_args), can_publish=True,
    )


@bp.get("/offers/<int:offer_id>")
def view(offer_id: int):
    """An offer's details; its managers get the buttons that fit its status, careers leads a request link.
    Below, the offer's matches the viewer may see (a careers lead: their own school's only), newest first."""
    offer = db.get_or_404(Offer, offer_id)
    if not policy.can_see_offer(current_user, offer):
        abort(403)
    can_manage = policy.can_manage_offer(current_user, offer)
    # browse.request_offer is another blueprint's; the link only shows once that endpoint exists.
    can_request = (current_user.role == Role.CAREERS_LEAD and offer.is_published and offer.places_left > 0
                   and "browse.request_offer" in current_app.view_functions)
    return render_template(
        "offers/view.html", offer=offer, page=offers.describe(offer, for_manager=can_manage),
        can_edit=can_manage and offer.status != OfferStatus.CLOSED, can_duplicate=can_manage,
        actions=offers.available_actions(offer) if can_manage else [], can_request=can_request,
        matches=offer_matches.for_offer(current_user, offer, page=paging.page_number()),
    )


@bp.route("/offers/<int:offer_id>/edit", methods=["GET", "POST"])
def edit(offer_id: int):
    """Edit an offer. The form carries the version it was loaded at, so a second editor is told."""
    offer = _load_managed(offer_id)
    if offer.status == OfferStatus.CLOSED:
        flash("A closed offer cannot be changed. Duplicate it to offer it again.", "warning")
        return redirect(url_for(".view", offer_id=offer.id))
    form = offer_form(offer.type, original=offer)
    status = 200
    if form.validate_on_submit():
        try:
            offers.update_offer(offer, by=current_user, expected_version=int(form.version.data),
                                values=form.values(), publish=form.publishing, ip=request.remote_addr)
        except StaleEdit as error:
            form.show_conflict(error, offer.version)
            status = 409
        except PortalError as error:
            form.show_error(error)
        else:
            flash(f"{offer.title}: changes saved.", "success")
            return redirect(url_for(".view", offer_id=offer.id))
    return render_template(
        "offers/edit.html", form=form, offer=offer, provider=offer.provider, kind=form.kind,
        heading=f"Edit {offer.title}",
        action=url_for(".edit", offer_id=offer.id), change_type_url=None,
        can_publish=offer.status == OfferStatus.DRAFT,
    ), status


@bp.post("/offers/<int:offer_id>/duplicate")
def duplicate(offer_id: int):
    """Copy an offer as a new draft and open it for editing."""
    offer = _load_managed(offer_id)
    try:
        copy = offers.duplicate_offer(offer, by=current_user, ip=request.remote_addr)
    except PortalError as error:
        flash(error.message, "danger")
        return redirect(url_for(".view", offer_id=offer.id))
    flash("This is a draft copy: check the dates and details, then save.", "success")
    return redirect(url_for(".edit", offer_id=copy.id))


@bp.post("/offers/<int:offer_id>/status")
def change_status(offer_id: int):
    """Publish, pause, reopen or close. Closing shows a confirmation page first."""
    offer = _load_managed(offer_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash("Choose an action from the page.", "danger")
        return redirect(url_for(".view", offer_id=offer.id))
    action = form.action.data
    if action == "close" and not form.confirmed and ("close", "Close") in offers.available_actions(offer):
        return render_template("offers/confirm_close.html", offer=offer,
                               waiting=offers.match_counts([offer.id]).get(offer.id, offers.MatchCounts()))
    try:
        offers.change_status(offer, action, by=current_user, ip=request.remote_addr)
    except offers.OfferInvalid as error:
        flash("This offer cannot be published yet. Edit it to fix:", "danger")
        for message in error.problems.values():
            flash(message, "danger")
    except PortalError as error:
        flash(error.message, "danger")
    else:
        flash(f"{offer.title} is {offers.action_done(action)}.", "success")
    return redirect(url_for(".view", offer_id=offer.id))
