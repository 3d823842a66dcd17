"""Finding each other: the offers a careers lead may browse, and the open requests a provider's offers could serve.

Distances in SQL use an equirectangular approximation with arithmetic only (no SQL trigonometry),
so the same query runs on SQLite and PostgreSQL: with the school at latitude φ0, longitude λ0,
dy = (lat − φ0) × 69, dx = (lon − λ0) × 69 × cos φ0 (cos computed here, in Python), and
dx² + dy² orders and filters. Over the tens of miles a search spans it is within a fraction of a
percent of the great-circle distance, which is what each result then shows (portal.geo.miles).
"""
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import contains_eager, joinedload

from portal import geo, paging, policy, vocab
from portal.catalogue import DELIVERY_LABELS, OFFER_TYPES, UNIT_LABELS, Delivery, Unit
from portal.extensions import db
from portal.models import (
    Match,
    Offer,
    OfferStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    RequestStatus,
    SchoolRequest,
    User,
)
from portal.models.matches import LIVE as LIVE_MATCH_STATUSES
from portal.models.year_groups import describe, from_mask
from portal.vocab import Role

PER_PAGE = 20
MILES_PER_DEGREE = 69.0
MAX_SEARCH_LENGTH = 100

SORT_DISTANCE = "distance"
SORT_SOONEST = "soonest"
SORT_LABELS = {SORT_DISTANCE: "Nearest first", SORT_SOONEST: "Soonest first"}

# Types no school can ask for (internship weeks are for young people not at school, 5/6) stay out of browsing.
SCHOOL_TYPES = tuple(code for code, kind in OFFER_TYPES.items() if kind.phases)
UNIT_SINGULAR = {Unit.PUPILS: "pupil", Unit.PLACES: "place", Unit.CLASSES: "class"}
LIVE_REQUEST_STATUSES = (RequestStatus.OPEN, RequestStatus.PARTLY_MATCHED)


@dataclass(frozen=True)
class OfferFilters:
    """What a careers lead narrowed the list to; None means "any"."""

    type: str | None = None
    sector: str | None = None
    year: int | None = None
    delivery: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    within_miles: int | None = None
    text: str | None = None
    sort: str | None = None  # SORT_DISTANCE or SORT_SOONEST; distance when there is a school to measure from


@dataclass(frozen=True)
class OfferRow:
    """One result, already in words: the template lays it out."""

    offer_id: int
    title: str
    provider_name: str
    type_label: str
    delivery_label: str
    distance_label: str
    places_label: str
    dates_label: str
    linkable: bool = True  # the viewer may open the offer's page


@dataclass
class OfferPage:
    pagination: Pagination
    rows: list[OfferRow] = field(default_factory=list)
    measured_from: Organisation | None = None  # the school distances are from, if any


# --- words -------------------------------------------------------------------------------------------------------

def type_label(code: str) -> str:
    kind = OFFER_TYPES.get(code)
    return kind.label if kind else code


def quantity(offer_type: str, count: int) -> str:
    """'1 place', '12 pupils', '3 classes' in the offer type's unit."""
    unit = OFFER_TYPES[offer_type].unit if offer_type in OFFER_TYPES else Unit.PUPILS
    return f"{count} {UNIT_SINGULAR[unit] if count == 1 else UNIT_LABELS[unit]}"


def day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def date_range(starts_on: date, ends_on: date) -> str:
    return day(starts_on) if starts_on == ends_on else f"{day(starts_on)} – {day(ends_on)}"


def distance_label(miles: float | None) -> str:
    return "Not known" if miles is None else f"{miles:.1f} miles"


def offer_distance_label(offer: Offer, school: Organisation | None) -> str:
    if offer.delivery == Delivery.VIRTUAL:
        return "Virtual"
    if school is None:
        return "Choose a school to see"
    return distance_label(geo.miles(school, offer.provider))


def escape_like(text: str) -> str:
    """Make % and _ (and the escape character itself) match literally in a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- offers a careers lead may browse ----------------------------------------------------------------------------

def squared_miles(latitude: float, longitude: float) -> ColumnElement[float]:
    """dx² + dy² in miles² from (latitude, longitude) to the joined provider; NULL where it has no location."""
    dy = (Organisation.latitude - latitude) * MILES_PER_DEGREE
    dx = (Organisation.longitude - longitude) * (MILES_PER_DEGREE * math.cos(math.radians(latitude)))
    return dx * dx + dy * dy


def visible_offers(area_ids: Iterable[int] | None, *, today: date) -> Select:
    """Published offers with places left and not yet over, of these areas (None: every area) or open to all areas,
    with their provider joined and loaded in the same query (no query per row)."""
    return _visible_offer_rows(area_ids, today=today).join(Offer.provider).options(contains_eager(Offer.provider))


def _visible_offer_rows(area_ids: Iterable[int] | None, *, today: date) -> Select:
    """visible_offers without their provider (every offer has one; joining it costs a lookup per offer)."""
    query = (
        select(Offer)
        .where(
            Offer.status == OfferStatus.PUBLISHED,
            Offer.ends_on >= today,
            Offer.allocated < Offer.capacity,
            Offer.type.in_(SCHOOL_TYPES),
        )
    )
    if area_ids is not None:
        query = query.where(or_(Offer.area_id.in_(set(area_ids) or {-1}), Offer.open_to_all_areas.is_(True)))
    return query


def filtered_offers(query: Select, filters: OfferFilters, *,
                    origin: Organisation | None) -> tuple[Select, list[ColumnElement]]:
    """Apply the filters to `query` (offers without their provider); returns it and its sort, left for the caller to
    apply (a page is ranked in a narrow subquery, bench/README.md session 19). `origin` (a school with a location) is
    what distances are measured from: only then is the provider joined, for its location."""
    if filters.type:
        query = query.where(Offer.type == filters.type)
    if filters.sector:
        query = query.where(Offer.sector == filters.sector)
    if filters.year is not None:
        query = query.where(Offer.year_mask.op("&")(1 << filters.year) != 0)
    if filters.delivery:
        query = query.where(Offer.delivery == filters.delivery)
    if filters.date_from:  # the offer's range overlaps the chosen dates
        query = query.where(Offer.ends_on >= filters.date_from)
    if filters.date_to:
        query = query.where(Offer.starts_on <= filters.date_to)
    if filters.text and filters.text.strip():
        pattern = f"%{escape_like(filters.text.strip().lower())}%"
        query = query.where(or_(func.lower(Offer.title).like(pattern, escape="\\"),
                                func.lower(Offer.description).like(pattern, escape="\\")))
    measured = origin is not None and origin.has_location
    by_distance = measured and filters.sort != SORT_SOONEST
    within = measured and filters.within_miles is not None
    if by_distance or within:
        query = query.join(Offer.provider)  # for its location
        distance = squared_miles(origin.latitude, origin.longitude)
        if within:
            # Virtual offers need no travel: they are always "within" reach.
            query = query.where(or_(distance <= filters.within_miles ** 2, Offer.delivery == Delivery.VIRTUAL))
        if by_distance:
            # Providers without a location last (NULL sorts differently on SQLite and PostgreSQL; this does not).
            no_location = case((or_(Organisation.latitude.is_(None), Organisation.longitude.is_(None)), 1), else_=0)
            return query, [no_location, distance, Offer.starts_on, Offer.id]
    return query, [Offer.starts_on, Offer.ends_on, Offer.id]


def browse_area_ids(user: User, school: Organisation | None) -> set[int] | None:
    """Whose offers the viewer browses: the school's area; without a school, a coordinator's areas (None: all)."""
    if school is not None:
        return {school.area_id}
    return policy.visible_area_ids(user)


def schools_for(user: User) -> list[Organisation]:
    """The schools a coordinator or admin may measure distances from: verified schools of their areas."""
    query = select(Organisation).where(Organisation.kind == OrgKind.SCHOOL, Organisation.status == OrgStatus.VERIFIED)
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Organisation.area_id.in_(areas or {-1}))
    return list(db.session.scalars(query.order_by(func.lower(Organisation.name), Organisation.id)))


def offer_row(offer: Offer, school: Organisation | None, viewer: User | None = None) -> OfferRow:
    """An offer in words, with its distance from `school` (None: no distances)."""
    return OfferRow(
        linkable=viewer is None or policy.can_see_offer(viewer, offer),
        offer_id=offer.id,
        title=offer.title,
        provider_name=offer.provider.name,
        type_label=type_label(offer.type),
        delivery_label=DELIVERY_LABELS.get(offer.delivery, offer.delivery),
        distance_label=offer_distance_label(offer, school),
        places_label=quantity(offer.type, offer.places_left) + " left",
        dates_label=date_range(offer.starts_on, offer.ends_on),
    )


class _RankedOffers(Pagination):
    """A page of offers and the total in one statement.

    A narrow subquery ranks only the offers' ids (with the provider's location when distance sorts) and counts every
    match with `count(*) OVER ()`, which is computed before its LIMIT; the outer query loads the page's twenty
    offers and providers by id. At the issue's region scale (2,500 live offers) the wide rows sorted in full and a
    second count statement had cost PostgreSQL 15-20 ms a page, now 4-7 (bench/README.md, session 19). Past the
    last page there is no row to carry the total, so only then is it counted apart."""

    def _query_items(self) -> list[Offer]:
        query, ordering = self._query_args["query"], self._query_args["ordering"]
        ranked = (query.with_only_columns(Offer.id, func.count().over().label("total"))
                  .order_by(*ordering).limit(self.per_page).offset(self._query_offset).subquery())
        rows = db.session.execute(
            select(Offer, ranked.c.total).join(ranked, ranked.c.id == Offer.id).join(Offer.provider)
            .options(contains_eager(Offer.provider)).order_by(*ordering)).all()
        self._total = rows[0].total if rows else None
        return [row.Offer for row in rows]

    def _query_count(self) -> int:
        if self._total is not None:
            return self._total
        if self.page == 1:
            return 0
        query = self._query_args["query"].with_only_columns(Offer.id)
        return db.session.scalar(select(func.count()).select_from(query.subquery()))


def offers_page(user: User, *, school: Organisation | None, filters: OfferFilters, page: int,
                today: date | None = None) -> OfferPage:
    """One page of the offers this user may browse: one query for the page, its providers and the total, however
    many rows it shows (a second, the count, only past the last page)."""
    today = today or date.today()
    origin = school if school is not None and school.has_location else None
    visible = _visible_offer_rows(browse_area_ids(user, school), today=today)
    query, ordering = filtered_offers(visible, filters, origin=origin)
    pagination = _RankedOffers(query=query, ordering=ordering, page=paging.clamp(page), per_page=PER_PAGE,
                               max_per_page=PER_PAGE, error_out=False)
    rows = [offer_row(offer, school, user) for offer in pagination.items]
    return OfferPage(pagination=pagination, rows=rows, measured_from=school)


# --- open requests a provider could serve ------------------------------------------------------------------------

def could_serve(offer: Offer, school_request: SchoolRequest) -> bool:
    """The hard rules an offer must meet to be proposed for a request (the matching engine in 3/6 adds distance
    and scoring): same area unless open to all areas, a wanted type, overlapping year groups and dates, an
    acceptable delivery, and a wanted sector (no sectors: any)."""
    return (
        (offer.open_to_all_areas or offer.area_id == school_request.area_id)
        and offer.type in (school_request.wanted_types or [])
        and offer.year_mask & school_request.year_mask != 0
        and offer.starts_on <= school_request.ends_on
        and school_request.starts_on <= offer.ends_on
        and offer.delivery in (school_request.deliveries or [])
        and (not school_request.sectors or offer.sector in school_request.sectors)
    )


def provider_offers(provider: Organisation, *, today: date | None = None) -> list[Offer]:
    """A provider's published offers that still have places and time left: what it can offer to requests."""
    today = today or date.today()
    query = select(Offer).where(
        Offer.provider_id == provider.id,
        Offer.status == OfferStatus.PUBLISHED,
        Offer.ends_on >= today,
        Offer.allocated < Offer.capacity,
    )
    return list(db.session.scalars(query.order_by(func.lower(Offer.title), Offer.id)))


def is_live(school_request: SchoolRequest, today: date) -> bool:
    return school_request.status in LIVE_REQUEST_STATUSES and school_request.ends_on >= today


@dataclass(frozen=True)
class RequestRow:
    """One open request as a provider sees it: the school, the group in numbers, never pupils, never notes."""

    request_id: int
    school_name: str
    town: str
    year_groups: str
    pupils: str
    dates: str
    wanted_types: str
    sectors: str
    deliveries: str
    distance: str
    served_by: str  # which of the provider's offers could serve it
    offered: str = ""  # "You have offered Engineering talk": the provider's offers with a live match for it
    can_offer: bool = True  # False when every suitable offer of the provider is already proposed for it


@dataclass
class RequestPage:
    pagination: Pagination
    rows: list[RequestRow] = field(default_factory=list)


def servable_request_ids(offers: list[Offer], *, today: date) -> dict[int, list[Offer]]:
    """Ids of live requests that at least one of `offers` could serve, with those offers.

    The wanted types, sectors and deliveries of a request are JSON lists, which SQL cannot search
    the same way on SQLite and PostgreSQL. So SQL narrows to what it can judge (live, in the offers'
    areas, year groups and dates that overlap) and loads only the few columns needed; could_serve()
    decides the rest here. That set is bounded by the live requests of the provider's area (plus
    every area's only when one of its offers is open to all areas): hundreds, not the whole table.
    """
    if not offers:
        return {}
    areas = {offer.area_id for offer in offers}
    any_area = any(offer.open_to_all_areas for offer in offers)
    union_mask = 0
    for offer in offers:
        union_mask |= offer.year_mask
    query = select(
        SchoolRequest.id, SchoolRequest.area_id, SchoolRequest.wanted_types, SchoolRequest.sectors,
        SchoolRequest.deliveries, SchoolRequest.year_mask, SchoolRequest.starts_on, SchoolRequest.ends_on,
    ).where(
        SchoolRequest.status.in_(LIVE_REQUEST_STATUSES),
        SchoolRequest.ends_on >= max(today, min(offer.starts_on for offer in offers)),
        SchoolRequest.starts_on <= max(offer.ends_on for offer in offers),
        SchoolRequest.year_mask.op("&")(union_mask) != 0,
    )
    if not any_area:
        query = query.where(SchoolRequest.area_id.in_(areas))
    found: dict[int, list[Offer]] = {}
    for row in db.session.execute(query):
        serving = [offer for offer in offers if could_serve(offer, row)]
        if serving:
            found[row.id] = serving
    return found


def offered_titles(provider: Organisation, request_ids: Iterable[int]) -> dict[int, dict[int, str]]:
    """For each of the requests, the provider's offers (id: title) already proposed or matched for it (live)."""
    found: dict[int, dict[int, str]] = {}
    rows = db.session.execute(
        select(Match.request_id, Offer.id, Offer.title).join(Offer, Match.offer_id == Offer.id)
        .where(Offer.provider_id == provider.id, Match.request_id.in_(list(request_ids) or [-1]),
               Match.status.in_(LIVE_MATCH_STATUSES))
        .order_by(func.lower(Offer.title), Offer.id))
    for request_id, offer_id, title in rows:
        found.setdefault(request_id, {})[offer_id] = title
    return found


def offered_text(titles: Iterable[str]) -> str:
    titles = list(dict.fromkeys(titles))
    if not titles:
        return ""
    listed = titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"
    return f"You have offered {listed}"


def request_row(school_request: SchoolRequest, provider: Organisation, serving: list[Offer],
                offered: dict[int, str] | None = None, suitable: list[Offer] | None = None) -> RequestRow:
    """A request as a provider sees it: counts, dates and wishes, never pupils and never the school's notes.

    `offered`: the provider's offers already live for it (id: title); `suitable`: every offer of the provider that
    could serve it (default `serving`). It can be offered while one suitable offer is not yet proposed."""
    req = school_request
    offered = offered or {}
    return RequestRow(
        request_id=req.id,
        school_name=req.school.name,
        town=req.school.town or "",
        year_groups=describe(from_mask(req.year_mask)),
        pupils=f"{req.pupils} pupil{'' if req.pupils == 1 else 's'}",
        dates=date_range(req.starts_on, req.ends_on),
        wanted_types=", ".join(type_label(code) for code in req.wanted_types or []),
        sectors=", ".join(vocab.SECTORS.get(code, code) for code in req.sectors) if req.sectors else "Any sector",
        deliveries=", ".join(DELIVERY_LABELS.get(code, code) for code in req.deliveries or []),
        distance=distance_label(geo.miles(provider, req.school)),
        served_by=", ".join(offer.title for offer in serving),
        offered=offered_text(offered.values()),
        can_offer=any(offer.id not in offered for offer in (serving if suitable is None else suitable)),
    )


def open_requests_page(provider: Organisation, offers: list[Offer], *, offer_id: int | None = None, page: int = 1,
                       today: date | None = None) -> RequestPage:
    """Live requests that the provider's published `offers` (or just `offer_id`) could serve, soonest first."""
    today = today or date.today()
    every_offer = offers
    if offer_id is not None:
        offers = [offer for offer in offers if offer.id == offer_id]
    serving = servable_request_ids(offers, today=today)
    query = (
        select(SchoolRequest)
        .options(joinedload(SchoolRequest.school))
        .where(SchoolRequest.id.in_(list(serving) or [-1]))
        .order_by(SchoolRequest.starts_on, SchoolRequest.ends_on, SchoolRequest.id)
    )
    pagination = db.paginate(query, page=paging.clamp(page), per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    offered = offered_titles(provider, [req.id for req in pagination.items])
    rows = [request_row(req, provider, serving[req.id], offered.get(req.id),
                        [offer for offer in every_offer if could_serve(offer, req)])
            for req in pagination.items]
    return RequestPage(pagination=pagination, rows=rows)


def servable_offers(user: User, school_request: SchoolRequest, *, today: date | None = None) -> list[Offer]:
    """The provider's published offers that could serve this live request; empty when the provider may not see
    it (another area's, no longer live, or nothing of theirs fits): then it is not theirs to see."""
    if user.role != Role.PROVIDER or user.organisation is None:
        return []
    today = today or date.today()
    if not is_live(school_request, today):
        return []
    return [offer for offer in provider_offers(user.organisation, today=today) if could_serve(offer, school_request)]


def request_visible_to_provider(user: User, school_request: SchoolRequest, *, today: date | None = None) -> bool:
    """A provider may see (and offer to meet) a live request that one of its published offers could serve."""
    return bool(servable_offers(user, school_request, today=today))
