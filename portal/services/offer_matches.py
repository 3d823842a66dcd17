"""The matches of one offer, as its page lists them: only those the viewer may see (policy.can_see_match).

The offer's provider sees every match of its offer; coordinators those of their areas (admins all); a careers
lead only their own school's, never another school's. Rows carry the school, allocation, status and session
date: nothing about pupils.
"""
from dataclasses import dataclass
from datetime import datetime

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, false, select
from sqlalchemy.orm import contains_eager

from portal import paging, policy
from portal.extensions import db
from portal.models import Match, Offer, SchoolRequest, User
from portal.services.browse import quantity
from portal.services.school_requests import match_status_label
from portal.vocab import Role

PER_PAGE = 20


@dataclass(frozen=True)
class OfferMatchRow:
    match_id: int
    school: str
    allocation: str
    status: str
    session: str  # the session's start, once scheduled; empty before


@dataclass(frozen=True)
class OfferMatches:
    page: Pagination
    rows: list[OfferMatchRow]
    own_school_only: bool  # a careers lead: only their school's matches are listed


def _visible(user: User, offer: Offer) -> Select:
    query = (
        select(Match)
        .join(Match.request).join(SchoolRequest.school)
        .options(contains_eager(Match.request).contains_eager(SchoolRequest.school))
        .where(Match.offer_id == offer.id)
        .order_by(Match.created_at.desc(), Match.id.desc())
    )
    if user.role == Role.PROVIDER:
        return query.where(false()) if not policy.can_manage_offer(user, offer) else query
    if user.role == Role.CAREERS_LEAD:
        return query.where(SchoolRequest.school_id == user.organisation_id)
    areas = policy.visible_area_ids(user)
    return query if areas is None else query.where(Match.area_id.in_(areas or {-1}))


def _when(value: datetime | None) -> str:
    return value.strftime("%a %-d %b %Y, %H:%M") if value else ""


def for_offer(user: User, offer: Offer, *, page: int = 1) -> OfferMatches:
    """The offer's matches the user may see, newest first, a page at a time."""
    pagination = db.paginate(_visible(user, offer), page=paging.clamp(page), per_page=PER_PAGE, max_per_page=PER_PAGE,
                             error_out=False)
    rows = [
        OfferMatchRow(
            match_id=match.id, school=match.request.school.name, allocation=quantity(offer.type, match.allocation),
            status=match_status_label(match.status), session=_when(match.session_starts_at),
        )
        for match in pagination.items
        if policy.can_see_match(user, match)  # the query says the same; the rule has the last word
    ]
    return OfferMatches(page=pagination, rows=rows, own_school_only=user.role == Role.CAREERS_LEAD)
