"""Requests: what a school's careers lead asks for, their list with proposal counts, edits, withdrawal and expiry.

Every rule a request must meet lives in `problems()`: the form shows all of them beside its fields, and the
services check them again (the last word) before anything is written.
"""
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, false, func, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from portal import catalogue, policy, vocab
from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import (
    HOLDS_CAPACITY,
    LIVE,
    PRIORITY_LABELS,
    Match,
    MatchStatus,
    Offer,
    Organisation,
    OrgKind,
    PriorityCohort,
    RequestStatus,
    SchoolRequest,
    User,
    utcnow,
)
from portal.models.year_groups import describe, to_mask
from portal.services import audit, match_transitions
from portal.services.db_locks import write_transaction
from portal.vocab import Role

PER_PAGE = 25
_matches = Match.__table__
MAX_PUPILS = 2000
MAX_TRAVEL_MILES = 200
MAX_NOTES = 2000
MAX_TITLE = 160

STATUS_LABELS = {
    RequestStatus.OPEN: "Open",
    RequestStatus.PARTLY_MATCHED: "Partly matched",
    RequestStatus.MATCHED: "Matched",
    RequestStatus.FULFILLED: "Fulfilled",
    RequestStatus.WITHDRAWN: "Withdrawn",
    RequestStatus.EXPIRED: "Expired",
}
MATCH_STATUS_LABELS = {
    MatchStatus.PROPOSED: "Proposed",
    MatchStatus.APPROVED: "Approved",
    MatchStatus.CONFIRMED: "Confirmed",
    MatchStatus.SCHEDULED: "Scheduled",
    MatchStatus.DELIVERED: "Delivered",
    MatchStatus.RECORDED: "Attendance recorded",
    MatchStatus.REJECTED: "Rejected",
    MatchStatus.DECLINED: "Declined",
    MatchStatus.CANCELLED: "Cancelled",
    MatchStatus.EXPIRED: "Expired",
    MatchStatus.NO_SHOW: "No-show",
}
# A request can be edited (and is matched against) only while these; withdrawn also from matched.
EDITABLE = frozenset({RequestStatus.OPEN, RequestStatus.PARTLY_MATCHED})
WITHDRAWABLE = EDITABLE | {RequestStatus.MATCHED}
# What the list counts as "confirmed": both sides have said yes (approval alone is not enough).
CONFIRMED = frozenset({MatchStatus.CONFIRMED, MatchStatus.SCHEDULED, MatchStatus.DELIVERED, MatchStatus.RECORDED})

# History notes of a proposal the request's edit changed (services.matching_store.RESIZED_NOTE is a run's).
FITTED_NOTE = "allocation changed from {was} to {allocation}: the request now asks for {pupils} pupils"
FULL_NOTE = "cancelled: the request now asks for {pupils} pupils, all already placed"

STALE_MESSAGE = (
    "This request was changed by someone else while you were editing. "
    "Your changes are below: check them and save again."
)


def request_status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def match_status_label(status: str) -> str:
    return MATCH_STATUS_LABELS.get(status, status)


# --- what a request says --------------------------------------------------------------------------

@dataclass
class RequestDetails:
    """What a careers lead fills in: the columns of a request a form may set."""

    title: str = ""
    wanted_types: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)  # empty: any sector
    year_groups: list[int] = field(default_factory=list)
    pupils: int | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    deliveries: list[str] = field(default_factory=list)
    max_travel_miles: int | None = None
    keep_together: bool = False
    priority: str = PriorityCohort.NONE
    notes: str | None = None

    @classmethod
    def of(cls, school_request: SchoolRequest) -> "RequestDetails":
        """The details a stored request holds (to fill an edit form)."""
        values = {f.name: getattr(school_request, f.name) for f in fields(cls)}
        values["wanted_types"] = list(school_request.wanted_types or [])
        values["sectors"] = list(school_request.sectors or [])
        values["deliveries"] = list(school_request.deliveries or [])
        return cls(**values)


def school_years(school: Organisation) -> tuple[int, ...]:
    """The year groups a school teaches (by its phase): the only ones it may ask for."""
    return vocab.PHASE_YEARS.get(school.phase or "", ())


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day + timedelta(days=365)


def problems(details: RequestDetails, *, school: Organisation, today: date | None = None,
             current: SchoolRequest | None = None) -> list[tuple[str, str]]:
    """Every rule the details break, as (form field, message), in the form's order.

    `current` is the stored request when editing: its start date may stay in the past once it has
    begun, and its pupils may not drop below the places already held for it.
    """
    today = today or date.today()
    found: list[tuple[str, str]] = []
    title = (details.title or "").strip()
    if not title:
        found.append(("title", "Enter a title, e.g. Year 10 engineering talk."))
    elif len(title) > MAX_TITLE:
        found.append(("title", f"The title can be at most {MAX_TITLE} characters."))

    school_types = dict(catalogue.type_choices(for_schools=True))
    if not details.wanted_types:
        found.append(("wanted_types", "Choose at least one type of encounter."))
    elif any(code not in school_types for code in details.wanted_types):
        found.append(("wanted_types", "Choose types of encounter from the list."))

    if any(code not in vocab.SECTORS for code in details.sectors):
        found.append(("sectors", "Choose sectors from the list."))

    years = school_years(school)
    if not years:
        found.append(("year_groups", "Your school's phase is not set: add it on your school's profile first."))
    elif not details.year_groups:
        found.append(("year_groups", "Choose at least one year group."))
    elif any(year not in years for year in details.year_groups):
        found.append(("year_groups", f"Choose year groups your school teaches ({describe(years)})."))

    if details.pupils is None:
        found.append(("pupils", "Enter the number of pupils, e.g. 30."))
    elif not 1 <= details.pupils <= MAX_PUPILS:
        found.append(("pupils", f"Enter a number of pupils from 1 to {MAX_PUPILS}."))
    elif current is not None and details.pupils < (held := held_allocation(current)):
        found.append(("pupils", f"{held} places are already held for this request by approved or confirmed matches: "
                                f"ask for at least {held} pupils."))

    found += _date_problems(details, today=today, current=current)

    if not details.deliveries:
        found.append(("deliveries", "Choose at least one way the encounter can be delivered."))
    elif any(code not in catalogue.DELIVERY_LABELS for code in details.deliveries):
        found.append(("deliveries", "Choose ways of delivery from the list."))
    if catalogue.Delivery.WORKPLACE in details.deliveries:
        if details.max_travel_miles is None:
            found.append(("max_travel_miles", "Enter how far pupils can travel to a workplace, in miles."))
        elif not 0 <= details.max_travel_miles <= MAX_TRAVEL_MILES:
            found.append(("max_travel_miles", f"Enter a distance from 0 to {MAX_TRAVEL_MILES} miles."))

    if details.priority not in PRIORITY_LABELS:
        found.append(("priority", "Choose a priority cohort from the list."))
    if details.notes and len(details.notes) > MAX_NOTES:
        found.append(("notes", f"Notes can be at most {MAX_NOTES} characters."))
    return found


def _date_problems(details: RequestDetails, *, today: date, current: SchoolRequest | None) -> list[tuple[str, str]]:
    found = []
    starts, ends = details.starts_on, details.ends_on
    if starts is None:
        found.append(("starts_on", "Enter the first date the encounter could happen."))
    elif starts < today and not (current is not None and starts == current.starts_on):
        found.append(("starts_on", "The first date cannot be in the past."))
    if ends is None:
        found.append(("ends_on", "Enter the last date the encounter could happen."))
    elif starts is not None and ends < starts:
        found.append(("ends_on", "The last date must be on or after the first date."))
    elif starts is not None and ends > one_year_after(starts):
        found.append(("ends_on", "The dates can span at most one year."))
    return found


def _check(details: RequestDetails, *, school: Organisation, today: date | None,
           current: SchoolRequest | None = None) -> None:
    found = problems(details, school=school, today=today, current=current)
    if found:
        field_name, message = found[0]
        raise ValidationFailed(message, field=field_name)


def _apply(school_request: SchoolRequest, details: RequestDetails) -> list[str]:
    """Copy the details onto the request; the names of the columns that changed."""
    values = {
        "title": details.title.strip(),
        "wanted_types": list(dict.fromkeys(details.wanted_types)),
        "sectors": sorted(set(details.sectors)),
        "year_mask": to_mask(details.year_groups),
        "pupils": details.pupils,
        "starts_on": details.starts_on,
        "ends_on": details.ends_on,
        "deliveries": list(dict.fromkeys(details.deliveries)),
        # The travel limit only means something if pupils go to the workplace.
        "max_travel_miles": details.max_travel_miles if catalogue.Delivery.WORKPLACE in details.deliveries else None,
        "keep_together": bool(details.keep_together),
        "priority": details.priority,
        "notes": (details.notes or "").strip() or None,
    }
    changed = []
    for name, value in values.items():
        if getattr(school_request, name) != value:
            setattr(school_request, name, value)
            changed.append("year_groups" if name == "year_mask" else name)
    return changed


# --- who may ask -----------------------------------------------------------------------------------

def may_ask_for(user: User, school: Organisation) -> bool:
    """A school's careers leads ask for their own school; coordinators for schools in their areas."""
    if school.kind != OrgKind.SCHOOL:
        return False
    if user.role == Role.CAREERS_LEAD:
        return user.organisation_id == school.id
    return user.role in (Role.COORDINATOR, Role.ADMIN) and policy.can_view_organisation(user, school)


def schools_for(user: User) -> list[Organisation]:
    """Schools this user may ask for or filter by: their own, or those of a coordinator's areas (by name)."""
    query = select(Organisation).where(Organisation.kind == OrgKind.SCHOOL)
    if user.role == Role.CAREERS_LEAD:
        query = query.where(Organisation.id == user.organisation_id)
    else:
        visible = policy.visible_area_ids(user)
        if visible is not None:
            query = query.where(Organisation.area_id.in_(visible or {-1}))
    return list(db.session.scalars(query.order_by(func.lower(Organisation.name), Organisation.id)))


# --- the list --------------------------------------------------------------------------------------

def requests_query(user: User, *, school_id: int | None = None, status: str | None = None,
                   unplaced: bool = False) -> Select:
    """Requests this user may see (a careers lead: their school's; staff: their areas'), newest first; `unplaced`:
    only those still waiting that the latest matching run could not place in full (see `unplaced`)."""
    query = select(SchoolRequest).options(selectinload(SchoolRequest.school))
    if user.role == Role.CAREERS_LEAD:
        query = query.where(SchoolRequest.school_id == user.organisation_id)
    elif user.role in (Role.COORDINATOR, Role.ADMIN):
        visible = policy.visible_area_ids(user)
        if visible is not None:
            query = query.where(SchoolRequest.area_id.in_(visible or {-1}))
    else:
        query = query.where(false())
    if school_id is not None:
        query = query.where(SchoolRequest.school_id == school_id)
    if status:
        query = query.where(SchoolRequest.status == status)
    if unplaced:
        query = query.where(_still_unplaced())
    return query.order_by(SchoolRequest.created_at.desc(), SchoolRequest.id.desc())


@dataclass(frozen=True)
class MatchCounts:
    proposals: int = 0  # matches waiting in 'proposed'
    confirmed: int = 0  # matches both sides have confirmed (or later)
    confirmed_allocation: int = 0  # pupils, places or classes in those


def match_counts(request_ids: Sequence[int]) -> dict[int, MatchCounts]:
    """Proposal and confirmed counts for a page of requests, in one grouped query (never one per row)."""
    if not request_ids:
        return {}
    is_confirmed = Match.status.in_(CONFIRMED)
    rows = db.session.execute(
        select(
            Match.request_id,
            func.sum(case((Match.status == MatchStatus.PROPOSED, 1), else_=0)),
            func.sum(case((is_confirmed, 1), else_=0)),
            func.sum(case((is_confirmed, Match.allocation), else_=0)),
        )
        .where(Match.request_id.in_(list(request_ids)))
        .group_by(Match.request_id)
    )
    return {request_id: MatchCounts(int(p or 0), int(c or 0), int(a or 0)) for request_id, p, c, a in rows}


@dataclass(frozen=True)
class RequestRow:
    """One line of the list, with codes already turned into words."""

    request: SchoolRequest
    school_name: str
    wanted: str
    years: str
    dates: str
    status: str
    proposals: int
    confirmed: str
    unplaced: bool  # still waiting, and the latest matching run could not place it in full


def describe_dates(starts: date, ends: date) -> str:
    return _day(starts) if starts == ends else f"{_day(starts)} – {_day(ends)}"


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def type_labels(codes: Sequence[str]) -> str:
    return ", ".join(catalogue.OFFER_TYPES[c].label if c in catalogue.OFFER_TYPES else c for c in codes)


def rows_for(requests: Sequence[SchoolRequest]) -> list[RequestRow]:
    """The list's rows for a page of requests (one extra query for all their counts)."""
    counts = match_counts([r.id for r in requests])
    rows = []
    for school_request in requests:
        count = counts.get(school_request.id, MatchCounts())
        confirmed = (f"{count.confirmed} ({count.confirmed_allocation} of {school_request.pupils})"
                     if count.confirmed else "None yet")
        rows.append(RequestRow(
            request=school_request,
            school_name=school_request.school.name,
            wanted=type_labels(school_request.wanted_types or []),
            years=describe(school_request.year_groups),
            dates=describe_dates(school_request.starts_on, school_request.ends_on),
            status=request_status_label(school_request.status),
            proposals=count.proposals,
            confirmed=confirmed,
            unplaced=unplaced(school_request) is not None,
        ))
    return rows


# --- one request -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unplaced:
    """Why the area's latest matching run did not place a live request in full, in the engine's words, and since when
    (the first run that gave these reasons)."""

    reasons: str
    on: str  # "24 Nov 2026"
    at_iso: str


def _still_unplaced():
    """`unplaced`'s rule as SQL, for the list's filter: still waiting for offers, with the latest run's reasons."""
    return and_(SchoolRequest.status.in_(EDITABLE), SchoolRequest.unplaced_reasons.is_not(None),
                SchoolRequest.unplaced_at.is_not(None))


def unplaced(school_request: SchoolRequest) -> Unplaced | None:
    """The latest matching run's reasons for a request still waiting for offers, and since which run they stand;
    None once it is matched, withdrawn or closed, or when that run placed it in full."""
    if school_request.status not in EDITABLE or not school_request.unplaced_reasons or not school_request.unplaced_at:
        return None
    return Unplaced(reasons=school_request.unplaced_reasons, on=_day(school_request.unplaced_at.date()),
                    at_iso=school_request.unplaced_at.isoformat(timespec="seconds"))


def facts(school_request: SchoolRequest) -> list[tuple[str, str]]:
    """The request as label/value pairs for its page."""
    deliveries = ", ".join(catalogue.DELIVERY_LABELS.get(d, d) for d in school_request.deliveries or [])
    result = [
        ("School", school_request.school.name),
        ("Status", request_status_label(school_request.status)),
        ("Types of encounter", type_labels(school_request.wanted_types or [])),
        ("Sectors", ", ".join(vocab.SECTORS.get(s, s) for s in school_request.sectors or []) or "Any sector"),
        ("Year groups", describe(school_request.year_groups)),
        ("Pupils", str(school_request.pupils)),
        ("Dates", describe_dates(school_request.starts_on, school_request.ends_on)),
        ("Delivery", deliveries),
    ]
    if school_request.max_travel_miles is not None:
        result.append(("Pupils can travel", f"up to {school_request.max_travel_miles} miles"))
    result += [
        ("The group", "Must stay together" if school_request.keep_together else "May be split across providers"),
        ("Priority cohort", PRIORITY_LABELS.get(school_request.priority, school_request.priority)),
        ("Notes", school_request.notes or "None"),
    ]
    return result


def matches_of(school_request: SchoolRequest) -> list[Match]:
    """The request's matches with their offers and providers, oldest first (three queries in all)."""
    return list(db.session.scalars(
        select(Match)
        .where(Match.request_id == school_request.id)
        .options(selectinload(Match.offer).selectinload(Offer.provider))
        .order_by(Match.created_at, Match.id)
    ))


def held_allocation(school_request: SchoolRequest) -> int:
    """Pupils (places, classes) held for the request by matches that hold capacity."""
    if school_request.id is None:
        return 0
    return int(db.session.scalar(
        select(func.coalesce(func.sum(Match.allocation), 0))
        .where(Match.request_id == school_request.id, Match.status.in_(HOLDS_CAPACITY))
    ) or 0)


def refresh_request_status(school_request: SchoolRequest, *, held: int | None = None) -> str:
    """Set open / partly matched / matched from the places held against the pupils asked for. Flushes only.

    Matching and approvals (3/6) call this after moving a match; a request that is fulfilled,
    withdrawn or expired is left as it is. `held`: held_allocation(school_request), if the caller has just
    counted it under the request's lock after moving its match.
    """
    if school_request.status not in WITHDRAWABLE:
        return school_request.status
    held = held_allocation(school_request) if held is None else held
    if held <= 0:
        status = RequestStatus.OPEN
    elif held < school_request.pupils:
        status = RequestStatus.PARTLY_MATCHED
    else:
        status = RequestStatus.MATCHED
    if school_request.status != status:
        school_request.status = status
        db.session.flush()
    return school_request.status


# --- use cases -------------------------------------------------------------------------------------

def create_request(school: Organisation, details: RequestDetails, *, by: User, ip: str | None = None,
                   today: date | None = None) -> SchoolRequest:
    """Post a new open request for a school. Commits once."""
    if not may_ask_for(by, school):
        raise NotAllowed("You cannot ask for encounters for this school.")
    _check(details, school=school, today=today)
    school_request = SchoolRequest(school=school, area_id=school.area_id, status=RequestStatus.OPEN,
                                   created_by_id=by.id)
    _apply(school_request, details)
    db.session.add(school_request)
    db.session.flush()
    audit.record("request.create", actor=by, ip=ip, target=school_request, area_id=school_request.area_id,
                 detail=f"{school_request.pupils} pupils, {describe(school_request.year_groups)}")
    db.session.commit()
    return school_request


def update_request(school_request: SchoolRequest, details: RequestDetails, *, by: User, expected_version: int,
                   ip: str | None = None, today: date | None = None) -> SchoolRequest:
    """Apply an edit loaded at `expected_version`; StaleEdit if someone saved in between. Commits once."""
    if not policy.can_manage_request(by, school_request):
        raise NotAllowed("You cannot change this request.")
    _check_edit(school_request, details, expected_version=expected_version, today=today)
    request_id = school_request.id
    with write_transaction():
        # Locked, so an approval against this request waits for us (or we for it): the places held, counted again
        # below, cannot change between the check and the proposals being cut to fit.
        school_request = match_transitions.lock_request(request_id)
        _check_edit(school_request, details, expected_version=expected_version, today=today)
        try:
            with db.session.no_autoflush:
                changed = _apply(school_request, details)
            if not changed:
                return school_request
            detail = "changed: " + ", ".join(changed)
            if "pupils" in changed:
                fitted = _fit_proposals(school_request, by=by)
                if fitted:
                    detail += f"; {fitted} proposals cut to fit"
            refresh_request_status(school_request)  # fewer pupils may mean it is now fully matched
            audit.record("request.update", actor=by, ip=ip, target=school_request, area_id=school_request.area_id,
                         detail=detail)
            db.session.commit()
        except StaleDataError as error:
            db.session.rollback()
            raise StaleEdit(STALE_MESSAGE) from error
    return school_request


def _check_edit(school_request: SchoolRequest, details: RequestDetails, *, expected_version: int,
                today: date | None) -> None:
    """The request may still be edited, nobody saved since it was loaded, and the details meet every rule."""
    if school_request.status not in EDITABLE:
        raise InvalidState(f"This request is {request_status_label(school_request.status).lower()}: "
                           "it can no longer be changed.")
    if school_request.version != expected_version:
        raise StaleEdit(STALE_MESSAGE)
    _check(details, school=school_request.school, today=today, current=school_request)


def _fit_proposals(school_request: SchoolRequest, *, by: User) -> int:
    """Cut each proposal waiting on the request to what it still needs (its pupils less the places held), the rule
    approval applies (services.matches.allocation_limit), so a request edited down does not leave a proposal the
    coordinator can only find too big when approving it. Each change gets a history row, as a matching run's resize
    does; a proposal with nothing left to fit is cancelled. Conditional on the status and allocation read, so a
    decision taken meanwhile stands. Inside the caller's transaction (under the request's lock). How many changed."""
    room = school_request.pupils - held_allocation(school_request)
    too_big = list(db.session.scalars(
        select(Match).where(Match.request_id == school_request.id, Match.status == MatchStatus.PROPOSED,
                            Match.allocation > room).order_by(Match.id)))
    fitted = 0
    for match in too_big:
        was = match.allocation
        to = MatchStatus.PROPOSED if room >= 1 else MatchStatus.CANCELLED
        values = {"allocation": room} if room >= 1 else {}
        moved = db.session.execute(
            update(_matches).where(_matches.c.id == match.id, _matches.c.status == MatchStatus.PROPOSED,
                                   _matches.c.allocation == was)
            .values(status=to, updated_at=utcnow(), **values))
        if moved.rowcount != 1:
            continue
        note = (FITTED_NOTE.format(was=was, allocation=room, pupils=school_request.pupils) if room >= 1
                else FULL_NOTE.format(pupils=school_request.pupils))
        match_transitions.record_event(match, MatchStatus.PROPOSED, to, by=by, note=note)
        db.session.expire(match, ["status", "allocation", "updated_at"])
        fitted += 1
    return fitted


@dataclass(frozen=True)
class WithdrawalEffects:
    proposals: int  # proposals that will be (or were) cancelled with the request
    kept: int  # matches approved or later, left for a coordinator to cancel (3/6)


def withdrawal_effects(school_request: SchoolRequest) -> WithdrawalEffects:
    """What withdrawing would do to the request's matches (for the confirmation page)."""
    statuses = [m.status for m in school_request.matches]
    return WithdrawalEffects(proposals=statuses.count(MatchStatus.PROPOSED),
                             kept=sum(1 for s in statuses if s in LIVE and s != MatchStatus.PROPOSED))


def withdraw_request(school_request: SchoolRequest, *, by: User, ip: str | None = None) -> WithdrawalEffects:
    """Withdraw a request; proposals waiting on it are cancelled. Approved matches are left alone. Commits once."""
    if not policy.can_manage_request(by, school_request):
        raise NotAllowed("You cannot withdraw this request.")
    if school_request.status not in WITHDRAWABLE:
        raise InvalidState(f"This request is already {request_status_label(school_request.status).lower()}.")
    request_id = school_request.id
    with write_transaction():
        # Locked, so an approval against this request waits for us (or we for it) and sees the outcome.
        school_request = match_transitions.lock_request(request_id)
        if school_request.status not in WITHDRAWABLE:
            raise InvalidState(f"This request is already {request_status_label(school_request.status).lower()}.")
        effects = withdrawal_effects(school_request)
        for match in school_request.matches:
            if match.status == MatchStatus.PROPOSED:
                match_transitions.move_and_record(match, MatchStatus.PROPOSED, MatchStatus.CANCELLED, by=by,
                                                  note="request withdrawn")
        school_request.status = RequestStatus.WITHDRAWN
        detail = f"{effects.proposals} proposals cancelled"
        if effects.kept:
            detail += f"; {effects.kept} approved matches left in place"
        audit.record("request.withdraw", actor=by, ip=ip, target=school_request, area_id=school_request.area_id,
                     detail=detail)
        try:
            db.session.commit()
        except StaleDataError as error:
            db.session.rollback()
            raise StaleEdit("This request was changed by someone else at the same moment. Try again.") from error
    return effects


def expire_requests(today: date | None = None) -> int:
    """Expire every open or partly matched request whose last date has passed, and the proposals waiting on it.

    Run daily (`flask requests expire`). One commit for the whole run; returns how many requests expired.
    """
    today = today or date.today()
    with write_transaction():
        due = list(db.session.scalars(
            select(SchoolRequest)
            .where(SchoolRequest.status.in_(EDITABLE), SchoolRequest.ends_on < today)
            .options(selectinload(SchoolRequest.matches))
            .order_by(SchoolRequest.id)
            .with_for_update(of=SchoolRequest)
        ))
        for school_request in due:
            expired = 0
            for match in school_request.matches:
                if match.status == MatchStatus.PROPOSED and match_transitions.move_and_record(
                        match, MatchStatus.PROPOSED, MatchStatus.EXPIRED, by=None,
                        note="request expired: its dates have passed"):
                    expired += 1
            school_request.status = RequestStatus.EXPIRED
            audit.record("request.expire", target=school_request, area_id=school_request.area_id,
                         detail=f"last date {school_request.ends_on.isoformat()}; {expired} proposals expired")
        db.session.commit()
    return len(due)
