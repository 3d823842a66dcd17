"""Finding each other: careers leads browse offers and request one; providers see open requests and offer to
meet one; careers leads switch the weekly digest."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.browse.forms import BrowseForm, DigestForm, OfferToMeetForm, RequestOfferForm, RequestsFilterForm
from portal.errors import NotAllowed, PortalError, ValidationFailed
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.models import Offer, Organisation, SchoolRequest
from portal.services import browse, proposals
from portal.services import digest as digest_service
from portal.vocab import Role

bp = Blueprint("browse", __name__)


@bp.get("/browse/offers")
def offers():
    """Published offers a school may ask for, filtered by the address's query string, nearest or soonest first."""
    user = current_user._get_current_object()  # once: every row's policy check would resolve the proxy again
    form = BrowseForm(request.args)
    is_lead = user.role == Role.CAREERS_LEAD
    form.set_schools(None if is_lead else browse.schools_for(user))
    form.check()
    if is_lead:
        school = user.organisation
    else:  # coordinators and admins pick one of their areas' schools to measure from, or none
        school_id = form.school_choice()
        school = db.session.get(Organisation, school_id) if school_id else None
    filters = form.filters(school)
    result = browse.offers_page(user, school=school, filters=filters, page=request.args.get("page", 1, type=int))
    return render_template("browse/offers.html", form=form, result=result, filter_args=form.query_args(),
                           is_lead=is_lead, digest_form=DigestForm() if is_lead else None,
                           digest_on=is_lead and user.weekly_digest)


@bp.route("/browse/offers/<int:offer_id>/request", methods=["GET", "POST"])
def request_offer(offer_id: int):
    """A careers lead asks for an offer: pupils, year groups and dates. Creates a request and a proposed match."""
    offer = db.get_or_404(Offer, offer_id)
    if not policy.can_see_offer(current_user, offer):
        abort(403)
    today = date.today()
    reason = proposals.why_not_requestable(offer, current_user.organisation, today=today)
    if reason:
        flash(reason, "warning")
        return redirect(url_for(".offers"))
    form = RequestOfferForm()
    form.setup(offer, current_user.organisation, today=today)
    if form.validate_on_submit():
        try:
            match = proposals.request_offer(offer, form.asked(), by=current_user, ip=request.remote_addr, today=today)
        except ValidationFailed as error:
            attach_error(form, error)
        except PortalError as error:
            flash(error.message, "danger")
            return redirect(url_for(".offers"))
        else:
            flash(f"Your request for {offer.title} has been sent to {offer.provider.name}. "
                  "A coordinator will look at it.", "success")
            return redirect(url_for("school_requests.view", request_id=match.request_id))
    return render_template("browse/request_offer.html", form=form, offer=offer,
                           row=browse.offer_row(offer, current_user.organisation))


@bp.get("/browse/requests")
def open_requests():
    """Live requests of schools that one of the provider's published offers could serve. Never pupil data."""
    provider = current_user.organisation
    offers = browse.provider_offers(provider)
    form = RequestsFilterForm(request.args)
    form.set_offers(offers)
    result = browse.open_requests_page(provider, offers, offer_id=form.offer_choice(),
                                       page=request.args.get("page", 1, type=int))
    return render_template("browse/open_requests.html", form=form, result=result, has_offers=bool(offers),
                           filter_args=form.query_args())


@bp.route("/browse/requests/<int:request_id>/offer", methods=["GET", "POST"])
def offer_to_meet(request_id: int):
    """A provider offers one of its published offers to a school's open request (a proposed match)."""
    school_request = db.get_or_404(SchoolRequest, request_id)
    today = date.today()
    offers = browse.servable_offers(current_user, school_request, today=today)
    if not offers:  # another area's request, no longer live, or nothing of theirs could serve it
        abort(403)
    form = OfferToMeetForm()
    form.setup(school_request, offers, provider=current_user.organisation, today=today)
    if form.is_submitted():
        offer = form.chosen_offer(lambda offer_id: db.session.get(Offer, offer_id))
        if offer is not None and not policy.can_manage_offer(current_user, offer):
            abort(403)
        if form.validate_with(offer):
            try:
                proposals.offer_to_meet(school_request, form.proposal(offer), by=current_user,
                                        ip=request.remote_addr, today=today)
            except NotAllowed:
                abort(403)
            except PortalError as error:
                attach_error(form, error)
            else:
                flash(f"You have offered {offer.title} to {school_request.school.name}. "
                      "We have emailed the school; a coordinator will look at it.", "success")
                return redirect(url_for(".open_requests"))
    return render_template("browse/offer_to_meet.html", form=form,
                           row=browse.request_row(school_request, current_user.organisation, offers))


@bp.post("/browse/digest")
def digest():
    """Switch the careers lead's weekly digest of new offers near their school on or off."""
    form = DigestForm()
    if form.validate_on_submit():
        digest_service.set_weekly_digest(current_user, on=form.on, ip=request.remote_addr)
        flash("The weekly digest is on: you will get a mail each week when there are new offers near your school."
              if form.on else "The weekly digest is off.", "success")
    else:
        flash("The weekly digest could not be changed. Try again.", "danger")
    return redirect(url_for(".offers"))
