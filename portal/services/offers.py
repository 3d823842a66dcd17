"""Offers: the rules an offer must meet, creating and version-checked editing, duplicating, the status
lifecycle (draft → published ⇄ paused → closed), and the providers' list with its counts.

Every rule about offer types comes from portal.catalogue. `offer_problems` is the one place the
validation rules live: the form calls it to show every message beside its field, and the services
call it again before they write, so nothing that bypasses the form gets in.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from portal import catalogue, policy, vocab
from portal.catalogue import DELIVERY_LABELS, DETAIL_LABELS, UNIT_LABELS, Delivery, OfferType, Unit
from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import (
    Match,
    MatchStatus,
    Offer,
    OfferStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    SchoolRequest,
    User,
    utcnow,
)
from portal.models.year_groups import describe as describe_years
from portal.services import audit, counting
from portal.vocab import Role

PER_PAGE = 25
MAX_COUNT = 10_000  # sessions, pupils per session, places, classes, kits: anything more is a typing slip
MAX_TRAVEL_MILES = 1_000
MAX_WAGE_POUNDS = 10_000  # a week's wage
MAX_FUNDING_POUNDS = 1_000_000
TITLE_MAX, DESCRIPTION_MAX, NOTES_MAX, CONTACT_MAX = 160, 5_000, 2_000, 200

STATUS_LABELS = {
    OfferStatus.DRAFT: "Draft",
    OfferStatus.PUBLISHED: "Published",
    OfferStatus.PAUSED: "Paused",
    OfferStatus.CLOSED: "Closed",
}
STALE_MESSAGE = (
    "This offer was changed by someone else while you were editing. "
    "Your changes are below: check them and save again."
)

# The status changes a manager can ask for: action -> (from statuses, to status, button label, past tense).
TRANSITIONS: dict[str, tuple[frozenset[str], str, str, str]] = {
    "publish": (frozenset({OfferStatus.DRAFT}), OfferStatus.PUBLISHED, "Publish", "published"),
    "pause": (frozenset({OfferStatus.PUBLISHED}), OfferStatus.PAUSED, "Pause", "paused"),
    "reopen": (frozenset({OfferStatus.PAUSED}), OfferStatus.PUBLISHED, "Reopen", "reopened"),
    "close": (frozenset({OfferStatus.PUBLISHED, OfferStatus.PAUSED}), OfferStatus.CLOSED, "Close", "closed"),
}

# Columns a create or an edit sets from the form. Type, provider, status and allocation have their own rules.
COMMON_FIELDS = (
    "title", "description", "sector", "delivery", "open_to_all_areas", "sessions", "per_session", "capacity",
    "starts_on", "ends_on", "year_groups", "max_travel_miles", "accessibility_notes",
    "supervised_throughout", "risk_assessment_done", "liability_insurance", "safeguarding_contact",
    "auto_approve", "auto_approve_delay_days",
    "paid",  # internship weeks (5/6): whether the week is paid; False for every other type
)
INTERNSHIP_WEEK = "internship_week"  # interns per week = per_session (= the places); weeks = starts_on..ends_on
AUTO_APPROVE_MAX_DAYS = 42  # the CHECK on offers.auto_approve_delay_days
DETAIL_FIELDS = tuple(DETAIL_LABELS)

# The four declarations, with what publishing asks for when one is missing.
SAFEGUARDING = {
    "supervised_throughout": "confirm that your volunteers are supervised by school staff throughout",
    "risk_assessment_done": "confirm that a risk assessment has been done",
    "liability_insurance": "confirm that you hold employers' liability insurance",
    "safeguarding_contact": "name your safeguarding contact",
}


class OfferInvalid(ValidationFailed):
    """Several rules said no at once: `problems` maps each field to its message."""

    def __init__(self, problems: Mapping[str, str]):
        first_field, first_message = next(iter(problems.items()))
        super().__init__(first_message, field=first_field)
        self.problems = dict(problems)


# --- labels ---------------------------------------------------------------------------------------

def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def type_label(code: str) -> str:
    kind = catalogue.OFFER_TYPES.get(code)
    return kind.label if kind else code


def unit_of(code: str) -> Unit:
    return catalogue.offer_type(code).unit


def amount(count: int, unit: Unit) -> str:
    """'60 pupils', '1 place', '3 classes'."""
    word = UNIT_LABELS[unit]
    return f"{count} {word[:-1] if count == 1 else word}"


def format_date(day: date | None) -> str:
    return f"{day.day} {day:%b %Y}" if day else ""


def date_range(starts_on: date, ends_on: date) -> str:
    if starts_on == ends_on:
        return format_date(starts_on)
    return f"{format_date(starts_on)} to {format_date(ends_on)}"


def pounds(pence: int | None) -> str:
    if pence is None:
        return ""
    whole, part = divmod(pence, 100)
    return f"£{whole:,}" + (f".{part:02d}" if part else "")


# All-through and special schools teach every age, so they say which schools may take a type, not which
# year groups it suits: counting their years would make every type suit Reception to Year 14.
MIXED_AGE_PHASES = frozenset({"all_through", "special"})


def suitable_years(kind: OfferType) -> tuple[int, ...]:
    """The year groups of the phases a type suits: Years 7–14 for secondary types, Reception–Year 6 for
    primary kits, all for both; none for internship weeks (for young people who have left school)."""
    phases = kind.phases - MIXED_AGE_PHASES or kind.phases
    years: set[int] = set()
    for phase in phases:
        years.update(vocab.PHASE_YEARS.get(phase, ()))
    return tuple(sorted(years))


# --- who may create -------------------------------------------------------------------------------

def can_create_for(user: User, provider: Organisation) -> bool:
    """A provider's own contacts, and coordinators of the provider's area (admins anywhere)."""
    if provider.kind != OrgKind.PROVIDER:
        return False
    if user.role == Role.PROVIDER:
        return user.organisation_id == provider.id
    return user.role in (Role.COORDINATOR, Role.ADMIN) and policy.can_view_organisation(user, provider)


def providers_for(user: User) -> list[Organisation]:
    """Verified providers a coordinator may act for, by name (for the 'on behalf of' choice and the filter)."""
    query = select(Organisation).where(Organisation.kind == OrgKind.PROVIDER,
                                       Organisation.status == OrgStatus.VERIFIED)
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Organisation.area_id.in_(sorted(areas) or [-1]))
    return list(db.session.scalars(query.order_by(func.lower(Organisation.name), Organisation.id)))


# --- the rules ------------------------------------------------------------------------------------

def clean_values(kind: OfferType, values: Mapping[str, Any]) -> dict[str, Any]:
    """The column values of an offer of this type: capacity worked out from the unit, text trimmed,
    details of other types dropped (so a detail can never linger from another kind of offer)."""
    clean: dict[str, Any] = {name: _trimmed(values.get(name)) for name in COMMON_FIELDS}
    clean["description"] = clean["description"] or ""
    clean["accessibility_notes"] = clean["accessibility_notes"] or None
    clean["safeguarding_contact"] = clean["safeguarding_contact"] or None
    for flag in ("open_to_all_areas", "supervised_throughout", "risk_assessment_done", "liability_insurance",
                 "auto_approve", "paid"):
        clean[flag] = bool(clean[flag])
    if clean["auto_approve_delay_days"] is None and not clean["auto_approve"]:
        clean["auto_approve_delay_days"] = 0  # blank and not opted in: nothing to wait for
    clean["year_groups"] = sorted({int(y) for y in clean["year_groups"] or ()})
    if kind.unit == Unit.PUPILS:
        sessions, per_session = clean["sessions"], clean["per_session"]
        clean["capacity"] = sessions * per_session if _counts(sessions, per_session) else None
    else:
        clean["sessions"], clean["per_session"] = 1, clean["capacity"]
    for name in DETAIL_FIELDS:
        value = _trimmed(values.get(name)) if name in kind.details else None
        clean[name] = value if value != "" else None
    if kind.code != INTERNSHIP_WEEK:
        clean["paid"] = False
    elif not clean["paid"]:
        clean["weekly_wage_pence"] = None  # an unpaid week has no wage (a contribution may still be given)
    return clean


def _trimmed(value):
    return value.strip() if isinstance(value, str) else value


def _counts(*numbers) -> bool:
    return all(isinstance(n, int) and 1 <= n <= MAX_COUNT for n in numbers)


def offer_problems(
    kind: OfferType,
    values: Mapping[str, Any],
    *,
    today: date | None = None,
    original: Offer | None = None,
    publishing: bool = False,
) -> dict[str, str]:
    """Every rule the offer breaks, as {field: message}; empty when it may be saved (and published,
    when `publishing`). `values` are clean_values(); `original` is the stored offer when editing."""
    today = today or date.today()
    problems: dict[str, str] = {}

    def problem(name: str, message: str) -> None:
        problems.setdefault(name, message)

    title = values.get("title") or ""
    if not title:
        problem("title", "Enter a title.")
    elif len(title) > TITLE_MAX:
        problem("title", f"Keep the title to {TITLE_MAX} characters or fewer.")
    if len(values.get("description") or "") > DESCRIPTION_MAX:
        problem("description", f"Keep the description to {DESCRIPTION_MAX:,} characters or fewer.")
    if values.get("sector") not in vocab.SECTORS:
        problem("sector", "Choose a sector from the list.")
    if values.get("delivery") not in set(Delivery):
        problem("delivery", "Choose how the offer is delivered.")
    if len(values.get("accessibility_notes") or "") > NOTES_MAX:
        problem("accessibility_notes", f"Keep the notes to {NOTES_MAX:,} characters or fewer.")
    if len(values.get("safeguarding_contact") or "") > CONTACT_MAX:
        problem("safeguarding_contact", f"Keep the contact to {CONTACT_MAX} characters or fewer.")

    _capacity_problems(kind, values, original, problem)
    _date_problems(values, today, original, problem)
    _year_problems(kind, values.get("year_groups") or [], problem)

    travel = values.get("max_travel_miles")
    if travel is None:
        if values.get("delivery") == Delivery.IN_SCHOOL:
            problem("max_travel_miles", "Enter how far you will travel to schools, in miles.")
    elif not 1 <= travel <= MAX_TRAVEL_MILES:
        problem("max_travel_miles", f"Enter a distance from 1 to {MAX_TRAVEL_MILES:,} miles.")

    _detail_problems(kind, values, today, original, problem)

    delay = values.get("auto_approve_delay_days")
    if delay is None:
        problem("auto_approve_delay_days", f"Enter how many days to wait, from 0 (at once) to "
                                           f"{AUTO_APPROVE_MAX_DAYS}.")
    elif not 0 <= delay <= AUTO_APPROVE_MAX_DAYS:
        problem("auto_approve_delay_days", f"Enter a number of days from 0 (at once) to {AUTO_APPROVE_MAX_DAYS}.")

    if publishing:
        if kind.needs_safeguarding_to_publish:
            article = "An" if kind.label[0] in "AEIOU" else "A"
            for name, ask in SAFEGUARDING.items():
                if not values.get(name):
                    problem(name, f"{article} {kind.label.lower()} cannot be published until you {ask}.")
        ends_on = values.get("ends_on")
        if ends_on is not None and ends_on < today and "ends_on" not in problems:
            problem("ends_on", "The end date has passed: change the dates before publishing.")
    return problems


def _capacity_problems(kind: OfferType, values, original: Offer | None, problem) -> None:
    word = UNIT_LABELS[kind.unit]
    if kind.unit == Unit.PUPILS:
        for name, what in (("sessions", "sessions"), ("per_session", "pupils per session")):
            number = values.get(name)
            if number is None or number < 1:
                problem(name, f"Enter the number of {what}, 1 or more.")
            elif number > MAX_COUNT:
                problem(name, f"Enter at most {MAX_COUNT:,} {what}.")
        capacity_field = "sessions"
    else:
        capacity_field = "capacity"
        number = values.get("capacity")
        if number is None or number < 1:
            problem("capacity", f"Enter the number of {word}, 1 or more.")
        elif number > MAX_COUNT:
            problem("capacity", f"Enter at most {MAX_COUNT:,} {word}.")
    capacity = values.get("capacity")
    if capacity is None:
        return
    if capacity > MAX_COUNT:
        problem("per_session", f"In total an offer can take at most {MAX_COUNT:,} pupils (sessions × pupils per "
                               "session).")
    allocated = original.allocated if original is not None else 0
    if capacity < allocated:
        problem(capacity_field, f"{amount(allocated, kind.unit).capitalize()} already allocated on this offer: "
                                f"the capacity cannot go below {allocated}.")


def _date_problems(values, today: date, original: Offer | None, problem) -> None:
    starts_on, ends_on = values.get("starts_on"), values.get("ends_on")
    if starts_on is None:
        problem("starts_on", "Enter the first date the offer can run.")
    elif starts_on < today and (original is None or starts_on != original.starts_on):
        problem("starts_on", "The start date cannot be in the past.")
    if ends_on is None:
        problem("ends_on", "Enter the last date the offer can run.")
    elif starts_on is not None and ends_on < starts_on:
        problem("ends_on", "The end date must be the same as or after the start date.")
    if original is not None and original.id is not None and starts_on is not None and ends_on is not None:
        _session_problems(original, starts_on, ends_on, problem)


def _session_problems(original: Offer, starts_on: date, ends_on: date, problem) -> None:
    """Like the capacity's floor of what is allocated: the dates must keep every session already scheduled on the
    offer inside them, or the school and provider would hold a session the offer no longer runs on."""
    if starts_on <= original.starts_on and ends_on >= original.ends_on:
        return  # the same dates or wider: nothing scheduled within the old ones can fall out (no query)
    sessions = sessions_outside(original.id, starts_on, ends_on)
    early = [s for s in sessions if s.day < starts_on]
    late = [s for s in sessions if s.day > ends_on]
    if early:
        problem("starts_on", _left_out(early, "before", f"Keep the start date on or before "
                                                        f"{format_date(min(s.day for s in early))}"))
    if late:
        problem("ends_on", _left_out(late, "after", f"Keep the end date on or after "
                                                  f"{format_date(max(s.day for s in late))}"))


@dataclass(frozen=True)
class ScheduledSession:
    match_id: int
    school_name: str
    day: date


def sessions_outside(offer_id: int, starts_on: date, ends_on: date) -> list[ScheduledSession]:
    """The offer's scheduled sessions (matches in 'scheduled') whose day falls outside starts_on..ends_on, by day.
    Delivered and recorded sessions are history: the dates say when the offer can still run."""
    day_after = datetime.combine(ends_on + timedelta(days=1), time.min)
    rows = db.session.execute(
        select(Match.id, Organisation.name, Match.session_starts_at)
        .join(SchoolRequest, SchoolRequest.id == Match.request_id)
        .join(Organisation, Organisation.id == SchoolRequest.school_id)
        .where(Match.offer_id == offer_id, Match.status == MatchStatus.SCHEDULED,
               Match.session_starts_at.is_not(None),
               (Match.session_starts_at < datetime.combine(starts_on, time.min))
               | (Match.session_starts_at >= day_after))
        .order_by(Match.session_starts_at, Match.id))
    return [ScheduledSession(match_id, name, starts_at.date()) for match_id, name, starts_at in rows]


def _left_out(sessions: list[ScheduledSession], side: str, keep: str) -> str:
    """'A session is already scheduled after this date: 6 Mar 2027 with Hill School (match 21). Keep the end date
    on or after 6 Mar 2027, or move that session first.'"""
    named = [f"{format_date(s.day)} with {s.school_name} (match {s.match_id})" for s in sessions[:5]]
    if len(sessions) > 5:
        named.append(f"{len(sessions) - 5} more")
    listed = named[0] if len(named) == 1 else "; ".join(named[:-1]) + " and " + named[-1]
    one = len(sessions) == 1
    return (f"{'A session is' if one else 'Sessions are'} already scheduled {side} this date: {listed}. "
            f"{keep}, or move {'that session' if one else 'those sessions'} first.")


def _year_problems(kind: OfferType, years: list[int], problem) -> None:
    allowed = suitable_years(kind)
    if not allowed:
        if years:
            problem("year_groups", f"{kind.label} offers are for young people who have left school: "
                                   "they take no year groups.")
        return
    if not years:
        problem("year_groups", "Choose at least one year group.")
        return
    unsuitable = [y for y in years if y not in allowed]
    if unsuitable:
        problem("year_groups", f"{describe_years(unsuitable)} {'does' if len(unsuitable) == 1 else 'do'} not suit "
                               f"a {kind.label.lower()}: choose from {describe_years(allowed)}.")


def _detail_problems(kind: OfferType, values, today: date, original: Offer | None, problem) -> None:
    """The type's extra details (catalogue.OfferType.details), all required."""

    def whole(name: str, low: int, high: int, what: str) -> None:
        number = values.get(name)
        if number is None:
            problem(name, f"Enter the {what}.")
        elif not low <= number <= high:
            problem(name, f"Enter the {what}, from {low} to {high:,}.")

    if kind.code == INTERNSHIP_WEEK:
        _internship_problems(values, problem)
        return
    for name in kind.details:
        value = values.get(name)
        if name == "placement_days":
            whole(name, 1, 20, "number of days per placement")
        elif name == "mentoring_sessions":
            whole(name, 1, 50, "number of mentoring sessions")
        elif name == "apprenticeship_level":
            whole(name, 2, 7, "apprenticeship level")
        elif name == "kit_stock":
            whole(name, 1, MAX_COUNT, "number of kits in stock")
        elif name in ("apprenticeship_standard", "virtual_link_note"):
            limit = 160 if name == "apprenticeship_standard" else 300
            what = ("the apprenticeship standard, e.g. Engineering technician" if name == "apprenticeship_standard"
                    else "how the joining link will be shared, e.g. by email after confirmation")
            if not value:
                problem(name, f"Enter {what}.")
            elif len(value) > limit:
                problem(name, f"Keep this to {limit} characters or fewer.")
        elif name == "weekly_wage_pence":
            if value is None:
                problem(name, "Enter the weekly wage in pounds, e.g. 250.")
            elif not 0 <= value <= MAX_WAGE_POUNDS * 100:
                problem(name, f"Enter a weekly wage from £0 to £{MAX_WAGE_POUNDS:,}.")
        elif name == "funding_amount_pence":
            if value is None:
                problem(name, "Enter the levy funding available in pounds, e.g. 9000.")
            elif not 0 < value <= MAX_FUNDING_POUNDS * 100:
                problem(name, f"Enter an amount of more than £0 and at most £{MAX_FUNDING_POUNDS:,}.")
        elif name == "levy_expires_on":
            if value is None:
                problem(name, "Enter the date the levy funds expire.")
        elif name == "closing_date":
            if value is None:
                problem(name, "Enter the closing date for applications.")
            elif value < today and (original is None or value != original.closing_date):
                problem(name, "The closing date cannot be in the past.")


def _internship_problems(values, problem) -> None:
    """An internship week: the mentor's name; the weekly wage if it is paid; the council's contribution if any,
    never more than the wage of a paid week."""
    mentor = values.get("mentor_name") or ""
    if not mentor:
        problem("mentor_name", "Enter the name of the intern's mentor for the week.")
    elif len(mentor) > 120:
        problem("mentor_name", "Keep the mentor's name to 120 characters or fewer.")
    wage = values.get("weekly_wage_pence")
    if values.get("paid"):
        if wage is None:
            problem("weekly_wage_pence", "Enter the weekly wage in pounds, e.g. 250, or untick 'The week is paid'.")
        elif not 0 < wage <= MAX_WAGE_POUNDS * 100:
            problem("weekly_wage_pence", f"Enter a weekly wage of more than £0 and at most £{MAX_WAGE_POUNDS:,}.")
    contribution = values.get("council_contribution_pence")
    if contribution is not None:
        if not 0 <= contribution <= MAX_WAGE_POUNDS * 100:
            problem("council_contribution_pence", f"Enter a contribution from £0 to £{MAX_WAGE_POUNDS:,}.")
        elif values.get("paid") and wage is not None and contribution > wage:
            problem("council_contribution_pence", "The council's contribution cannot be more than the weekly wage.")


def _raise_problems(kind: OfferType, values, *, today, original=None, publishing=False) -> None:
    problems = offer_problems(kind, values, today=today, original=original, publishing=publishing)
    if problems:
        raise OfferInvalid(problems)


def _check_manager(by: User, offer: Offer) -> None:
    if not policy.can_manage_offer(by, offer):
        raise NotAllowed("You cannot change this offer.")


def _check_provider(provider: Organisation) -> None:
    if provider.status != OrgStatus.VERIFIED:
        raise NotAllowed(f"{provider.name} is not verified yet: its offers can be published once it is.")


def _publish(offer: Offer, *, by: User, ip: str | None, action: str = "publish") -> None:
    offer.status = OfferStatus.PUBLISHED
    offer.published_at = offer.published_at or utcnow()
    audit.record(f"offer.{action}", actor=by, ip=ip, target=offer, area_id=offer.area_id)


# --- use cases ------------------------------------------------------------------------------------

def create_offer(
    provider: Organisation,
    *,
    by: User,
    offer_type: str,
    values: Mapping[str, Any],
    publish: bool = False,
    ip: str | None = None,
    today: date | None = None,
) -> Offer:
    """Create an offer for `provider` as a draft, or published straight away when `publish`. Commits once."""
    if not can_create_for(by, provider):
        raise NotAllowed("You cannot create offers for this organisation.")
    kind = catalogue.OFFER_TYPES.get(offer_type)
    if kind is None:
        raise ValidationFailed("Choose the kind of offer.", field="type")
    if publish:
        _check_provider(provider)
    clean = clean_values(kind, values)
    _raise_problems(kind, clean, today=today, publishing=publish)

    years = clean.pop("year_groups")
    offer = Offer(provider=provider, area_id=provider.area_id, type=kind.code, status=OfferStatus.DRAFT,
                  allocated=0, created_by_id=by.id, **clean)
    offer.year_groups = years
    db.session.add(offer)
    db.session.flush()
    audit.record("offer.create", actor=by, ip=ip, target=offer, area_id=offer.area_id,
                 detail=f"{kind.label} for {provider.name}")
    if publish:
        _publish(offer, by=by, ip=ip)
    db.session.commit()
    return offer


def update_offer(
    offer: Offer,
    *,
    by: User,
    expected_version: int,
    values: Mapping[str, Any],
    publish: bool = False,
    ip: str | None = None,
    today: date | None = None,
) -> Offer:
    """Apply an edit loaded at `expected_version` (StaleEdit if someone saved in between). A published offer
    stays published and must still meet the publishing rules; `publish` publishes a draft. Commits once."""
    _check_manager(by, offer)
    if offer.status == OfferStatus.CLOSED:
        raise InvalidState("A closed offer cannot be changed. Duplicate it to offer it again.")
    if offer.version != expected_version:
        raise StaleEdit(STALE_MESSAGE)
    kind = catalogue.offer_type(offer.type)
    publish = publish and offer.status == OfferStatus.DRAFT
    if publish:
        _check_provider(offer.provider)
    clean = clean_values(kind, values)
    _raise_problems(kind, clean, today=today, original=offer,
                    publishing=publish or offer.status == OfferStatus.PUBLISHED)

    changed = [name for name, value in clean.items() if getattr(offer, name) != value]
    if not changed and not publish:
        return offer
    area_id = offer.provider.area_id  # kept in step with the provider; loaded before changing anything
    try:
        for name in changed:
            setattr(offer, name, clean[name])
        offer.area_id = area_id
        if changed:
            offer.updated_at = utcnow()
            audit.record("offer.update", actor=by, ip=ip, target=offer, area_id=offer.area_id,
                         detail="changed: " + ", ".join(changed))
        if publish:
            _publish(offer, by=by, ip=ip)
        db.session.commit()
    except StaleDataError as error:
        db.session.rollback()
        raise StaleEdit(STALE_MESSAGE) from error
    except IntegrityError as error:
        # Only the allocation CHECK can fail here: a match was approved between our check and the commit.
        db.session.rollback()
        field_name = "sessions" if kind.unit == Unit.PUPILS else "capacity"
        raise ValidationFailed("More has been allocated on this offer meanwhile: the capacity cannot go below "
                               "what is allocated.", field=field_name) from error
    return offer


def duplicate_offer(offer: Offer, *, by: User, ip: str | None = None) -> Offer:
    """A draft copy ('Copy of …') with nothing allocated, for the manager to adjust. Commits once."""
    _check_manager(by, offer)
    columns = {name: getattr(offer, name) for name in (*COMMON_FIELDS, *DETAIL_FIELDS) if name != "year_groups"}
    columns["title"] = f"Copy of {offer.title}"[:TITLE_MAX]
    copy = Offer(provider=offer.provider, area_id=offer.provider.area_id, type=offer.type,
                 status=OfferStatus.DRAFT, allocated=0, year_mask=offer.year_mask, created_by_id=by.id, **columns)
    db.session.add(copy)
    db.session.flush()
    audit.record("offer.duplicate", actor=by, ip=ip, target=copy, area_id=copy.area_id,
                 detail=f"copy of offer {offer.id}")
    db.session.commit()
    return copy


def change_status(offer: Offer, action: str, *, by: User, ip: str | None = None,
                  today: date | None = None) -> Offer:
    """Publish a draft, pause or reopen a published offer, or close it. Publishing and reopening check the
    publishing rules (safeguarding for visits and placements, dates not passed). Commits once."""
    _check_manager(by, offer)
    if action not in TRANSITIONS:
        raise InvalidState("Choose publish, pause, reopen or close.")
    sources, target, _label, done = TRANSITIONS[action]
    if offer.status not in sources:
        raise InvalidState(f"This offer is {status_label(offer.status).lower()}: it cannot be {done}.")
    if target == OfferStatus.PUBLISHED:
        _check_provider(offer.provider)
        kind = catalogue.offer_type(offer.type)
        _raise_problems(kind, stored_values(offer), today=today, original=offer, publishing=True)
        _publish(offer, by=by, ip=ip, action=action)
    else:
        offer.status = target
        audit.record(f"offer.{action}", actor=by, ip=ip, target=offer, area_id=offer.area_id)
    try:
        db.session.commit()
    except StaleDataError as error:
        db.session.rollback()
        raise StaleEdit("This offer was changed by someone else at the same moment: look at it and try again.") \
            from error
    return offer


def stored_values(offer: Offer) -> dict[str, Any]:
    """The offer's editable values as clean_values() would give them."""
    return {name: getattr(offer, name) for name in (*COMMON_FIELDS, *DETAIL_FIELDS)}


def available_actions(offer: Offer) -> list[tuple[str, str]]:
    """(action, button label) of the status changes open to this offer now."""
    return [(action, label) for action, (sources, _to, label, _done) in TRANSITIONS.items()
            if offer.status in sources]


def action_done(action: str) -> str:
    return TRANSITIONS[action][3]


# --- the list -------------------------------------------------------------------------------------

def offers_query(user: User, *, provider_id: int | None = None, status: str | None = None) -> Select:
    """Offers this user manages: a provider's own, a coordinator's areas' (every area for admins)."""
    query = select(Offer).options(selectinload(Offer.provider))
    if user.role == Role.PROVIDER:
        query = query.where(Offer.provider_id == user.organisation_id)
    else:
        areas = policy.visible_area_ids(user)
        if areas is not None:
            query = query.where(Offer.area_id.in_(sorted(areas) or [-1]))
        if provider_id is not None:
            query = query.where(Offer.provider_id == provider_id)
    if status:
        query = query.where(Offer.status == status)
    order = case({s: n for n, s in enumerate(STATUS_LABELS)}, value=Offer.status, else_=len(STATUS_LABELS))
    return query.order_by(order, Offer.starts_on, Offer.id)


@dataclass(frozen=True)
class MatchCounts:
    requests_waiting: int = 0  # matches proposed on the offer, waiting for a decision
    upcoming_sessions: int = 0  # matches scheduled (3/6)


def match_counts(offer_ids: list[int]) -> dict[int, MatchCounts]:
    """Counts per offer in ONE grouped query, however many offers are on the page."""
    if not offer_ids:
        return {}
    proposed = func.sum(case((Match.status == MatchStatus.PROPOSED, 1), else_=0))
    scheduled = func.sum(case((Match.status == MatchStatus.SCHEDULED, 1), else_=0))
    rows = db.session.execute(
        select(Match.offer_id, proposed, scheduled)
        .where(Match.offer_id.in_(offer_ids), Match.status.in_([MatchStatus.PROPOSED, MatchStatus.SCHEDULED]))
        .group_by(Match.offer_id)
    )
    return {offer_id: MatchCounts(int(p or 0), int(s or 0)) for offer_id, p, s in rows}


@dataclass(frozen=True)
class OfferRow:
    offer: Offer
    provider_name: str
    type_label: str
    status_label: str
    dates: str
    capacity: str
    places_left: int
    requests_waiting: int
    upcoming_sessions: int


def rows_for(offers: list[Offer]) -> list[OfferRow]:
    """What the list shows for each offer, labels worked out here so the template only lays them out."""
    counts = match_counts([o.id for o in offers])
    rows = []
    for offer in offers:
        found = counts.get(offer.id, MatchCounts())
        rows.append(OfferRow(
            offer=offer, provider_name=offer.provider.name, type_label=type_label(offer.type),
            status_label=status_label(offer.status), dates=date_range(offer.starts_on, offer.ends_on),
            capacity=amount(offer.capacity, unit_of(offer.type)), places_left=offer.places_left,
            requests_waiting=found.requests_waiting, upcoming_sessions=found.upcoming_sessions,
        ))
    return rows


# --- one offer's page ---------------------------------------------------------------------------

@dataclass
class OfferPage:
    """An offer's facts as (label, value) pairs, grouped, so the template only lays them out."""

    paragraphs: list[str] = field(default_factory=list)  # the description
    summary: list[tuple[str, str]] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)
    safeguarding: list[tuple[str, str]] = field(default_factory=list)


def auto_approval_text(offer: Offer) -> str:
    if not offer.auto_approve:
        return "No: a coordinator approves each proposal"
    days = offer.auto_approve_delay_days
    when = "at once" if not days else f"{days} day{'' if days == 1 else 's'} after they are made"
    return f"Yes: proposals that meet every criterion are approved {when}, unless a coordinator steps in"


def counts_toward_label(offer: Offer) -> str:
    """The target an offer's encounters count toward: its area's (an area setting), or each school's own when the
    offer is open to every area."""
    if offer.open_to_all_areas:
        return "Counts toward the school's target"
    return f"Counts toward the target of {counting.target_text(offer.provider.area)} encounters"


def describe(offer: Offer, *, for_manager: bool = False) -> OfferPage:
    """Everything about the offer; counts of other schools' requests only for its managers."""
    kind = catalogue.offer_type(offer.type)
    if kind.unit == Unit.PUPILS:
        capacity = f"{amount(offer.capacity, kind.unit)} ({offer.sessions} × {offer.per_session} per session)"
    else:
        capacity = amount(offer.capacity, kind.unit)
    summary = [
        ("Provider", offer.provider.name),
        ("Type", kind.label),
        ("Status", status_label(offer.status)),
        ("Sector", vocab.SECTORS.get(offer.sector, offer.sector)),
        ("Delivery", DELIVERY_LABELS.get(offer.delivery, offer.delivery)),
        ("Dates", date_range(offer.starts_on, offer.ends_on)),
        ("Year groups", describe_years(offer.year_groups) if suitable_years(kind)
         else "Young people who have left school"),
        ("Capacity", capacity),
        ("Places left", amount(offer.places_left, kind.unit)),
        ("Travel to schools", f"Up to {offer.max_travel_miles} miles" if offer.max_travel_miles is not None
         else "Not given"),
        ("Who can find it", "Schools in every area" if offer.open_to_all_areas
         else f"Schools in {offer.provider.area.name}"),
        ("Accessibility and SEND", offer.accessibility_notes or "None given"),
        (counts_toward_label(offer), "Yes" if kind.counts_toward_target else "No"),
        ("Auto-approval", auto_approval_text(offer)),
    ]
    if for_manager:
        counts = match_counts([offer.id]).get(offer.id, MatchCounts())
        summary[9:9] = [("Requests waiting", str(counts.requests_waiting)),
                        ("Upcoming sessions", str(counts.upcoming_sessions))]
    details = []
    for name in kind.details:
        value = getattr(offer, name)
        if name.endswith("_pence"):
            text = pounds(value)
        elif isinstance(value, date):
            text = format_date(value)
        else:
            text = "" if value is None else str(value)
        details.append((DETAIL_LABELS[name].replace(" (£)", ""), text or "Not given"))
        if name == "mentor_name" and kind.code == INTERNSHIP_WEEK:
            details.append(("Paid", "Yes" if offer.paid else "No"))
    yes_no = {True: "Yes", False: "No"}
    safeguarding = [
        ("Volunteers supervised by school staff throughout", yes_no[offer.supervised_throughout]),
        ("Risk assessment done", yes_no[offer.risk_assessment_done]),
        ("Employers' liability insurance", yes_no[offer.liability_insurance]),
        ("Named safeguarding contact", offer.safeguarding_contact or "None given"),
    ]
    paragraphs = [p.strip() for p in offer.description.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return OfferPage(paragraphs=paragraphs, summary=summary, details=details, safeguarding=safeguarding)
