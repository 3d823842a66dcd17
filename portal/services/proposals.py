"""Proposed matches made by people: a careers lead requests an offer, a provider offers to meet a request.

Both create a Match in `proposed` with its first MatchEvent, audit it and mail the other side, in one
commit. Approving, confirming and scheduling come in 3/6; until then coordinators see the list.
Every rule a person's input must meet lives in a `*_problems()` function: the form shows all of them
beside its fields, and the use case checks them again before anything is written.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from portal import policy, vocab
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import (
    LIVE,
    Match,
    MatchEvent,
    MatchOrigin,
    MatchStatus,
    Offer,
    OfferStatus,
    Organisation,
    RequestStatus,
    SchoolRequest,
    User,
    UserStatus,
)
from portal.models.year_groups import describe, to_mask
from portal.services import audit, auto_approval, browse, mail
from portal.services.school_requests import held_allocation, refresh_request_status
from portal.vocab import Role

PER_PAGE = 20
MAX_MESSAGE = 1000
MAX_TITLE = 160

ORIGIN_LABELS = {
    MatchOrigin.SCHOOL_ASKED: "School requested the offer",
    MatchOrigin.PROVIDER_OFFERED: "Provider offered to meet the request",
    MatchOrigin.ENGINE: "Proposed by matching",
}


ADJUSTED_LABEL = "{origin}, then changed or held by a coordinator (later matching runs leave it as it is)"


def origin_label(origin: str, adjusted: bool = False) -> str:
    """How a proposal came about; `adjusted`: a coordinator has taken it in hand (Match.adjusted_at)."""
    label = ORIGIN_LABELS.get(origin, origin)
    return ADJUSTED_LABEL.format(origin=label) if adjusted and origin == MatchOrigin.ENGINE else label


@dataclass(frozen=True)
class ProposalMessage:
    """What the side that proposed a match wrote to the other (Match.message), and who that was."""

    author: str  # "Burnley High (the school)"
    text: str

    @property
    def label(self) -> str:
        return f"Message from {self.author}"


def proposal_message(match: Match) -> ProposalMessage | None:
    """The proposal's message and its writer, one rule for both directions: the match page (both sides and the
    coordinator), the coordinator's decision pages and the mail to the side it was written to (a provider's words
    in it; a school's only named, with a link: they may name pupils). None without one.
    The writer follows from how the match came about: a school asked for the offer, or a provider offered it."""
    if not match.message:
        return None
    if match.origin == MatchOrigin.SCHOOL_ASKED:
        author = f"{match.request.school.name} (the school)"
    elif match.origin == MatchOrigin.PROVIDER_OFFERED:
        author = f"{match.offer.provider.name} (the provider)"
    else:  # matching writes none; should one ever be set, it is shown without guessing who wrote it
        author = "the side that proposed it"
    return ProposalMessage(author=author, text=match.message)


def _problem(problems: list[tuple[str, str]]) -> None:
    if problems:
        field, message = problems[0]
        raise ValidationFailed(message, field=field)


def _first_event(match: Match, by: User, note: str) -> None:
    match.events.append(MatchEvent(actor_id=by.id, from_status=None, to_status=MatchStatus.PROPOSED, note=note))


def _active_members(organisation_id: int, role: Role) -> list[User]:
    return list(db.session.scalars(
        select(User)
        .where(User.organisation_id == organisation_id, User.role == role, User.status == UserStatus.ACTIVE)
        .order_by(User.id)
    ))


# --- a careers lead requests an offer ----------------------------------------------------------------------------

def requestable_years(offer: Offer, school: Organisation) -> list[int]:
    """The offer's year groups that the school teaches: the only ones it may ask for."""
    taught = set(vocab.PHASE_YEARS.get(school.phase or "", ()))
    return [year for year in offer.year_groups if year in taught]


def why_not_requestable(offer: Offer, school: Organisation, *, today: date | None = None) -> str | None:
    """Why this school cannot request the offer at all (before any form), or None."""
    today = today or date.today()
    if offer.status != OfferStatus.PUBLISHED:
        return "This offer is not published at the moment, so it cannot be requested."
    if offer.ends_on < today:
        return "This offer's dates have passed."
    if offer.places_left <= 0:
        return "This offer has no places left."
    if offer.type not in browse.SCHOOL_TYPES:
        return "Schools cannot request this type of offer."
    if not requestable_years(offer, school):
        return "This offer is for year groups your school does not teach."
    return None


@dataclass
class OfferRequest:
    """What a careers lead asks for when requesting an offer."""

    pupils: int | None
    year_groups: list[int]
    starts_on: date | None
    ends_on: date | None
    message: str | None = None


def request_problems(offer: Offer, school: Organisation, asked: OfferRequest, *,
                     today: date | None = None) -> list[tuple[str, str]]:
    """Every rule the request breaks, as (form field, message)."""
    today = today or date.today()
    found: list[tuple[str, str]] = []
    left = offer.places_left
    if asked.pupils is None:
        found.append(("pupils", "Enter how many pupils would come, e.g. 30."))
    elif not 1 <= asked.pupils <= left:
        found.append(("pupils", f"Ask for 1 to {left}: this offer has {browse.quantity(offer.type, left)} left."))
    years = requestable_years(offer, school)
    if not asked.year_groups:
        found.append(("year_groups", "Choose at least one year group."))
    elif any(year not in years for year in asked.year_groups):
        found.append(("year_groups", f"Choose from the year groups this offer serves that your school teaches "
                                     f"({describe(years)})."))
    window = browse.date_range(offer.starts_on, offer.ends_on)
    if asked.starts_on is None:
        found.append(("starts_on", "Enter the first date that suits you."))
    elif asked.starts_on < today:
        found.append(("starts_on", "The first date cannot be in the past."))
    elif not offer.starts_on <= asked.starts_on <= offer.ends_on:
        found.append(("starts_on", f"Choose a date the offer runs: {window}."))
    if asked.ends_on is None:
        found.append(("ends_on", "Enter the last date that suits you."))
    elif asked.starts_on is not None and asked.ends_on < asked.starts_on:
        found.append(("ends_on", "The last date must be on or after the first date."))
    elif not offer.starts_on <= asked.ends_on <= offer.ends_on:
        found.append(("ends_on", f"Choose a date the offer runs: {window}."))
    if asked.message and len(asked.message) > MAX_MESSAGE:
        found.append(("message", f"The message can be at most {MAX_MESSAGE} characters."))
    return found


def request_offer(offer: Offer, asked: OfferRequest, *, by: User, ip: str | None = None,
                  today: date | None = None) -> Match:
    """A careers lead asks for an offer: a request for just this, and a proposed match on it. Commits once."""
    today = today or date.today()
    school = by.organisation
    if by.role != Role.CAREERS_LEAD or school is None or not policy.can_see_offer(by, offer):
        raise NotAllowed("You cannot request this offer.")
    reason = why_not_requestable(offer, school, today=today)
    if reason:
        raise InvalidState(reason)
    _problem(request_problems(offer, school, asked, today=today))

    school_request = SchoolRequest(
        school=school,
        area_id=school.area_id,
        title=f"Request for: {offer.title}"[:MAX_TITLE],
        wanted_types=[offer.type],
        sectors=[offer.sector],
        deliveries=[offer.delivery],
        year_mask=to_mask(asked.year_groups),
        pupils=asked.pupils,
        starts_on=asked.starts_on,
        ends_on=asked.ends_on,
        keep_together=True,
        status=RequestStatus.OPEN,
        created_by_id=by.id,
    )
    message = (asked.message or "").strip() or None
    match = Match(
        offer=offer,
        request=school_request,
        area_id=school.area_id,
        allocation=asked.pupils,
        status=MatchStatus.PROPOSED,
        origin=MatchOrigin.SCHOOL_ASKED,
        reasons=f"Requested directly by {school.name}",
        message=message,
        created_by_id=by.id,
    )
    _first_event(match, by, "requested by the school")
    db.session.add_all([school_request, match])
    db.session.flush()
    refresh_request_status(school_request)
    audit.record("match.propose", actor=by, ip=ip, target=match, area_id=match.area_id,
                 detail=f"{school.name} requested offer {offer.id} for {match.allocation}")

    context = {
        "school_name": school.name,
        "offer_title": offer.title,
        "year_groups": describe(asked.year_groups),
        "amount": browse.quantity(offer.type, asked.pupils),
        "dates": browse.date_range(asked.starts_on, asked.ends_on),
        "offer_url": mail.link("offers.view", offer_id=offer.id),
        # A school's own words are not copied into mail (they may name pupils): the mail says there is a message
        # and where to read it, behind the sign-in.
        "message": proposal_message(match),
        "match_url": mail.link("matches.view", match_id=match.id),
    }
    for contact in _active_members(offer.provider_id, Role.PROVIDER):
        mail.queue_mail(contact.email, f"{school.name} has requested {offer.title}", "offer_requested",
                        name=contact.name, **context)
    auto_approval.schedule(match)
    db.session.commit()
    _auto_approve_at_once(match)
    return match


def _auto_approve_at_once(match: Match) -> None:
    """An offer opted in to auto-approval with no delay: approve the new proposal now (its own transaction)."""
    if auto_approval.is_due_now(match):
        auto_approval.run_due(only=[match.id])


# --- a provider offers to meet a request -------------------------------------------------------------------------

def still_needed(school_request: SchoolRequest) -> int:
    """Pupils the request still needs: those asked for less those held by approved (or later) matches."""
    return max(school_request.pupils - held_allocation(school_request), 0)


@dataclass
class MeetingOffer:
    """What a provider offers: one of its offers, for how many, and a note to the school."""

    offer: Offer | None
    allocation: int | None
    message: str | None = None


def meeting_problems(school_request: SchoolRequest, proposal: MeetingOffer, *, provider: Organisation,
                     today: date | None = None) -> list[tuple[str, str]]:
    """Every rule the provider's proposal breaks, as (form field, message)."""
    today = today or date.today()
    found: list[tuple[str, str]] = []
    offer = proposal.offer
    servable = offer is not None and offer.provider_id == provider.id and offer.status == OfferStatus.PUBLISHED \
        and offer.ends_on >= today and offer.places_left > 0 and browse.could_serve(offer, school_request)
    if not servable:
        found.append(("offer_id", "Choose one of your published offers that could serve this request."))
    needed = still_needed(school_request)
    if proposal.allocation is None:
        found.append(("allocation", "Enter how many pupils you could take, e.g. 30."))
    elif servable:
        most = min(offer.places_left, needed)
        if not 1 <= proposal.allocation <= most:
            found.append(("allocation", f"Offer 1 to {most}: the school still needs {needed} and your offer has "
                                        f"{browse.quantity(offer.type, offer.places_left)} left."))
    if proposal.message and len(proposal.message) > MAX_MESSAGE:
        found.append(("message", f"The message can be at most {MAX_MESSAGE} characters."))
    return found


def offer_to_meet(school_request: SchoolRequest, proposal: MeetingOffer, *, by: User, ip: str | None = None,
                  today: date | None = None) -> Match:
    """A provider offers one of its offers to a school's open request: a proposed match. Commits once."""
    today = today or date.today()
    provider = by.organisation
    offer = proposal.offer
    if by.role != Role.PROVIDER or provider is None or not browse.request_visible_to_provider(
            by, school_request, today=today):
        raise NotAllowed("You cannot offer to meet this request.")
    if offer is not None and offer.provider_id != provider.id:
        raise NotAllowed("You can only offer your own organisation's offers.")
    _problem(meeting_problems(school_request, proposal, provider=provider, today=today))
    already = db.session.scalar(select(func.count(Match.id)).where(
        Match.offer_id == offer.id, Match.request_id == school_request.id, Match.status.in_(LIVE)))
    if already:
        raise InvalidState("This offer is already proposed for this request.", field="offer_id")

    message = (proposal.message or "").strip() or None
    match = Match(
        offer=offer,
        request=school_request,
        area_id=school_request.area_id,
        allocation=proposal.allocation,
        status=MatchStatus.PROPOSED,
        origin=MatchOrigin.PROVIDER_OFFERED,
        reasons=f"Offered by {provider.name} · {browse.type_label(offer.type)} as wanted · year groups and dates fit",
        message=message,
        created_by_id=by.id,
    )
    _first_event(match, by, "offered by the provider")
    db.session.add(match)
    db.session.flush()
    audit.record("match.propose", actor=by, ip=ip, target=match, area_id=match.area_id,
                 detail=f"{provider.name} offered offer {offer.id} to request {school_request.id} "
                        f"for {match.allocation}")

    school = school_request.school
    context = {
        "school_name": school.name,
        "provider_name": provider.name,
        "offer_title": offer.title,
        "type_label": browse.type_label(offer.type),
        "amount": browse.quantity(offer.type, proposal.allocation),
        "dates": browse.date_range(offer.starts_on, offer.ends_on),
        "message": proposal_message(match),
        "request_url": mail.link("school_requests.view", request_id=school_request.id),
    }
    for lead in _active_members(school.id, Role.CAREERS_LEAD):
        mail.queue_mail(lead.email, f"{provider.name} has offered {offer.title} for your request",
                        "offer_made", name=lead.name, **context)
    auto_approval.schedule(match)
    db.session.commit()
    _auto_approve_at_once(match)
    return match
