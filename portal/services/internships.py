"""The NEET internship programme (5/6), first half: programmes, interns, the rota (built by
portal.matching.rota, reviewed, edited and approved by the coordinator), and weeks marked completed.

Feedback, follow-ups, the control group and the evaluation live in services/internship_followup.py.
Interns are held to the least data (see models/internships.py); providers only ever see intern references.
"""
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import policy, vocab
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.matching import rota
from portal.models import Area, Offer, OfferStatus, Organisation, User, UserStatus, utcnow
from portal.models.internships import (
    PLACEMENT_WEEKS,
    Intern,
    InternshipProgramme,
    Placement,
    PlacementStatus,
    ProgrammeStatus,
)
from portal.services import audit, counting, mail
from portal.services.db_locks import write_transaction
from portal.services.pupils import REFERENCE_ALPHABET
from portal.vocab import Role

INTERNSHIP_TYPE = "internship_week"
AGE_BANDS = {"16-17": "16 to 17", "18-19": "18 to 19", "20-24": "20 to 24"}
INTERN_STATUS_LABELS = {"active": "Active", "withdrawn": "Withdrawn", "completed": "Completed"}
PROGRAMME_STATUS_LABELS = {
    ProgrammeStatus.DRAFT: "Draft: putting the cohort together",
    ProgrammeStatus.ROTA_PROPOSED: "Rota proposed: waiting for the coordinator",
    ProgrammeStatus.ROTA_APPROVED: "Rota approved: placements under way",
    ProgrammeStatus.COMPLETED: "Completed",
}
PLACEMENT_STATUS_LABELS = {
    PlacementStatus.PROPOSED: "Proposed",
    PlacementStatus.APPROVED: "Approved",
    PlacementStatus.COMPLETED: "Completed",
    PlacementStatus.CANCELLED: "Cancelled",
}
NAME_MAX, INTERN_NAME_MAX, TOWN_MAX = 120, 120, 120
MAX_TRAVEL_MILES, MAX_NEET_MONTHS = 200, 120
REFERENCE_LENGTH = 8
WEEK_FIELDS = ("week1_on", "week2_on", "week3_on", "week4_on")
PROGRAMME_FIELDS = ("name", "coaching_on", *WEEK_FIELDS, "final_coaching_on")
INTERN_FIELDS = ("display_name", "age_band", "town", "latitude", "longitude", "max_travel_miles", "neet_months",
                 "sectors")
LIVE = (PlacementStatus.PROPOSED, PlacementStatus.APPROVED, PlacementStatus.COMPLETED)


def format_date(day: date | None) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}" if day else ""


def week_label(monday: date) -> str:
    friday = monday + timedelta(days=4)
    return f"{monday.day} {monday:%b} to {friday.day} {friday:%b %Y}"


def friday(monday: date) -> date:
    return monday + timedelta(days=4)


# --- who ----------------------------------------------------------------------------------------------

def areas_for(user: User) -> list[Area]:
    """Areas the user may run programmes in (every area for admins)."""
    query = select(Area).order_by(Area.name)
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Area.id.in_(sorted(areas) or [-1]))
    return list(db.session.scalars(query))


def _check_programme(user: User, programme: InternshipProgramme) -> None:
    if not policy.can_manage_programme(user, programme):
        raise NotAllowed("Only a coordinator of this programme's area can change it.")


def programmes_for(user: User) -> list[InternshipProgramme]:
    query = select(InternshipProgramme).order_by(InternshipProgramme.week1_on.desc(), InternshipProgramme.id)
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(InternshipProgramme.area_id.in_(sorted(areas) or [-1]))
    return list(db.session.scalars(query))


# --- programmes -----------------------------------------------------------------------------------------

def programme_problems(values: Mapping[str, Any], *, original: InternshipProgramme | None = None) -> dict[str, str]:
    """Every rule the programme breaks, {field: message}; empty when it may be saved."""
    problems: dict[str, str] = {}

    def problem(name: str, message: str) -> None:
        problems.setdefault(name, message)

    name = (values.get("name") or "").strip()
    if not name:
        problem("name", "Enter the cohort's name, e.g. Spring 2027 cohort.")
    elif len(name) > NAME_MAX:
        problem("name", f"Keep the name to {NAME_MAX} characters or fewer.")
    coaching = values.get("coaching_on")
    if coaching is None:
        problem("coaching_on", "Enter the date of the pre-start coaching.")
    weeks = [values.get(name) for name in WEEK_FIELDS]
    for number, (name, monday) in enumerate(zip(WEEK_FIELDS, weeks, strict=True), start=1):
        if monday is None:
            problem(name, f"Enter the Monday of placement week {number}.")
        elif monday.weekday() != 0:
            problem(name, f"Week {number} must start on a Monday: {format_date(monday)} is a {monday:%A}.")
    for number in range(1, PLACEMENT_WEEKS):
        before, after = weeks[number - 1], weeks[number]
        if before and after and WEEK_FIELDS[number] not in problems and after < before + timedelta(days=7):
            problem(WEEK_FIELDS[number], f"Week {number + 1} must start at least a week after week {number} "
                                         f"({format_date(before)}).")
    if coaching and weeks[0] and coaching > weeks[0] and "week1_on" not in problems:
        problem("coaching_on", "The pre-start coaching must be on or before the first placement week's Monday.")
    final = values.get("final_coaching_on")
    if final and weeks[3] and final < friday(weeks[3]):
        problem("final_coaching_on", "The final coaching day must be on or after the Friday of the fourth week "
                                     f"({format_date(friday(weeks[3]))}).")
    if original is not None and original.status in (ProgrammeStatus.ROTA_APPROVED, ProgrammeStatus.COMPLETED):
        for name in WEEK_FIELDS:
            if values.get(name) != getattr(original, name):
                problem(name, "The rota has been approved: the placement weeks can no longer change.")
    return problems


def _raise(problems: Mapping[str, str]) -> None:
    if problems:
        first = next(iter(problems))
        error = ValidationFailed(problems[first], field=first)
        error.problems = dict(problems)
        raise error


def create_programme(area_id: int, values: Mapping[str, Any], *, by: User, ip: str | None = None
                     ) -> InternshipProgramme:
    if not policy.can_see_area(by, area_id) or by.role not in (Role.COORDINATOR, Role.ADMIN):
        raise NotAllowed("You can create programmes only in your own areas.", field="area_id")
    _raise(programme_problems(values))
    with write_transaction():
        programme = InternshipProgramme(area_id=area_id, created_by_id=by.id, status=ProgrammeStatus.DRAFT,
                                        **{name: values.get(name) for name in PROGRAMME_FIELDS})
        programme.name = programme.name.strip()
        db.session.add(programme)
        db.session.flush()
        audit.record("internship.programme_create", actor=by, ip=ip, target=programme, area_id=area_id,
                     detail=programme.name)
        db.session.commit()
    return programme


def update_programme(programme: InternshipProgramme, values: Mapping[str, Any], *, by: User,
                     ip: str | None = None) -> InternshipProgramme:
    """Change the dates or name. Changing the weeks of a proposed rota drops that rota (run it again)."""
    _check_programme(by, programme)
    _raise(programme_problems(values, original=programme))
    with write_transaction():
        changed = [name for name in PROGRAMME_FIELDS
                   if (values.get(name).strip() if name == "name" else values.get(name)) != getattr(programme, name)]
        if not changed:
            db.session.rollback()
            return programme
        weeks_moved = any(name in WEEK_FIELDS for name in changed)
        for name in changed:
            value = values.get(name)
            setattr(programme, name, value.strip() if name == "name" else value)
        if weeks_moved and programme.status == ProgrammeStatus.ROTA_PROPOSED:
            _drop_proposed(programme)
            programme.status = ProgrammeStatus.DRAFT
            programme.rota_report = None
        audit.record("internship.programme_update", actor=by, ip=ip, target=programme, area_id=programme.area_id,
                     detail="changed: " + ", ".join(changed))
        db.session.commit()
    return programme


def _drop_proposed(programme: InternshipProgramme) -> None:
    for placement in db.session.scalars(select(Placement).where(
            Placement.programme_id == programme.id, Placement.status == PlacementStatus.PROPOSED)):
        db.session.delete(placement)
    db.session.flush()


# --- interns ----------------------------------------------------------------------------------------------

def _random_reference() -> str:
    return "I" + "".join(REFERENCE_ALPHABET[byte % 32] for byte in secrets.token_bytes(REFERENCE_LENGTH))


def new_reference() -> str:
    while True:
        reference = _random_reference()
        if db.session.scalar(select(func.count()).where(Intern.reference == reference)) == 0:
            return reference


def intern_problems(values: Mapping[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    if len(values.get("display_name") or "") > INTERN_NAME_MAX:
        problems["display_name"] = f"Keep the name to {INTERN_NAME_MAX} characters or fewer."
    if values.get("age_band") not in AGE_BANDS:
        problems["age_band"] = "Choose the age band."
    if values.get("latitude") is None or values.get("longitude") is None:
        problems["town"] = "Enter the town or village the intern travels from."
    elif len(values.get("town") or "") > TOWN_MAX:
        problems["town"] = f"Keep the town to {TOWN_MAX} characters or fewer."
    travel = values.get("max_travel_miles")
    if travel is None:
        problems["max_travel_miles"] = "Enter how far the intern can travel, in miles."
    elif not 1 <= travel <= MAX_TRAVEL_MILES:
        problems["max_travel_miles"] = f"Enter a distance from 1 to {MAX_TRAVEL_MILES} miles."
    months = values.get("neet_months")
    if months is None:
        problems["neet_months"] = "Enter how many months the intern has been NEET (0 if less than a month)."
    elif not 0 <= months <= MAX_NEET_MONTHS:
        problems["neet_months"] = f"Enter a number of months from 0 to {MAX_NEET_MONTHS}."
    unknown = [s for s in values.get("sectors") or () if s not in vocab.SECTORS]
    if unknown:
        problems["sectors"] = "Choose sectors from the list."
    return problems


def _intern_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    columns = {name: values.get(name) for name in INTERN_FIELDS}
    columns["display_name"] = (columns["display_name"] or "").strip() or None
    columns["town"] = (columns["town"] or "").strip() or None
    columns["sectors"] = sorted(set(columns["sectors"] or ())) or None
    return columns


def _check_open(programme: InternshipProgramme) -> None:
    if programme.status == ProgrammeStatus.COMPLETED:
        raise InvalidState("This programme has finished: its interns can no longer change.")


def add_intern(programme: InternshipProgramme, values: Mapping[str, Any], *, by: User, ip: str | None = None
               ) -> Intern:
    _check_programme(by, programme)
    _check_open(programme)
    _raise(intern_problems(values))
    with write_transaction():
        intern = Intern(programme_id=programme.id, area_id=programme.area_id, reference=new_reference(),
                        is_control=False, status="active", **_intern_columns(values))
        db.session.add(intern)
        db.session.flush()
        audit.record("internship.intern_add", actor=by, ip=ip, target=intern, area_id=programme.area_id,
                     detail=f"{intern.reference} on programme {programme.id}")
        db.session.commit()
    return intern


def update_intern(intern: Intern, values: Mapping[str, Any], *, by: User, ip: str | None = None) -> Intern:
    _check_programme(by, intern.programme)
    _check_open(intern.programme)
    _raise(intern_problems(values))
    with write_transaction():
        columns = _intern_columns(values)
        changed = [name for name, value in columns.items() if getattr(intern, name) != value]
        for name in changed:
            setattr(intern, name, columns[name])
        if changed:
            # The name itself never goes in the audit log.
            audit.record("internship.intern_update", actor=by, ip=ip, target=intern, area_id=intern.area_id,
                         detail=f"{intern.reference} changed: " + ", ".join(changed))
        db.session.commit()
    return intern


def withdraw_intern(intern: Intern, *, by: User, ip: str | None = None) -> Intern:
    """The intern leaves the programme: their placements not yet done are cancelled."""
    _check_programme(by, intern.programme)
    if intern.status != "active":
        raise InvalidState("This intern is not active on the programme.")
    with write_transaction():
        intern.status = "withdrawn"
        for placement in intern.placements:
            if placement.status in (PlacementStatus.PROPOSED, PlacementStatus.APPROVED):
                placement.status = PlacementStatus.CANCELLED
        audit.record("internship.intern_withdraw", actor=by, ip=ip, target=intern, area_id=intern.area_id,
                     detail=intern.reference)
        db.session.commit()
    return intern


def interns_of(programme: InternshipProgramme) -> list[Intern]:
    """The programme's interns (never its control group), active first."""
    return list(db.session.scalars(
        select(Intern).where(Intern.programme_id == programme.id, Intern.is_control.is_(False))
        .options(selectinload(Intern.placements))
        .order_by((Intern.status != "active"), Intern.id)))


def intern_contacts(intern: Intern) -> int:
    """Each completed week is a contact for the intern (four providers, four contacts)."""
    return counting.intern_contacts_count(intern.id)


# --- the rota ----------------------------------------------------------------------------------------------

def week_available(offer: Offer, monday: date) -> bool:
    """The whole Monday-to-Friday week lies inside the offer's dates."""
    return offer.starts_on <= monday and friday(monday) <= offer.ends_on


def candidate_offers(programme: InternshipProgramme) -> list[Offer]:
    """Published internship weeks of the programme's area, or open to all areas."""
    return list(db.session.scalars(
        select(Offer).where(Offer.type == INTERNSHIP_TYPE, Offer.status == OfferStatus.PUBLISHED,
                            or_(Offer.area_id == programme.area_id, Offer.open_to_all_areas.is_(True)))
        .options(selectinload(Offer.provider)).order_by(Offer.id)))


def _taken_elsewhere(programme: InternshipProgramme, offer_ids: list[int]) -> dict[tuple[int, date], int]:
    """Live placements on these offers by OTHER programmes, per (offer, Monday)."""
    taken: dict[tuple[int, date], int] = {}
    rows = db.session.execute(
        select(Placement.offer_id, Placement.week_no, InternshipProgramme)
        .join(InternshipProgramme, InternshipProgramme.id == Placement.programme_id)
        .where(Placement.offer_id.in_(offer_ids or [-1]), Placement.status.in_(LIVE),
               Placement.programme_id != programme.id))
    for offer_id, week_no, other in rows:
        key = (offer_id, other.week_starts[week_no - 1])
        taken[key] = taken.get(key, 0) + 1
    return taken


def weekly_capacity(programme: InternshipProgramme, offers: list[Offer]) -> dict[int, dict[int, int]]:
    """offer id -> {week_no: interns it can still take that week} (0 when the week is outside its dates)."""
    taken = _taken_elsewhere(programme, [o.id for o in offers])
    return {
        offer.id: {
            week: (max(0, offer.per_session - taken.get((offer.id, monday), 0)) if week_available(offer, monday)
                   else 0)
            for week, monday in enumerate(programme.week_starts, start=1)
        }
        for offer in offers
    }


def engine_input(programme: InternshipProgramme) -> tuple[list[rota.RotaIntern], list[rota.RotaOffer]]:
    interns = [
        rota.RotaIntern(id=i.id, reference=i.reference, latitude=i.latitude, longitude=i.longitude,
                        max_travel_miles=i.max_travel_miles, neet_months=i.neet_months or 0,
                        sectors=frozenset(i.sectors or ()))
        for i in interns_of(programme) if i.status == "active"
    ]
    offers = candidate_offers(programme)
    capacity = weekly_capacity(programme, offers)
    return interns, [
        rota.RotaOffer(id=o.id, provider_id=o.provider_id, provider_name=o.provider.name, sector=o.sector,
                       latitude=o.provider.latitude, longitude=o.provider.longitude, capacity=capacity[o.id])
        for o in offers
    ]


def run_rota(programme: InternshipProgramme, *, by: User, ip: str | None = None,
             time_limit: float = rota.TIME_LIMIT_SECONDS) -> rota.RotaResult:
    """Build the rota with the engine and store it as proposed, replacing any earlier proposal. Commits once."""
    _check_programme(by, programme)
    if programme.status not in (ProgrammeStatus.DRAFT, ProgrammeStatus.ROTA_PROPOSED):
        raise InvalidState("The rota has been approved: change it placement by placement instead.")
    with write_transaction():
        interns, offers = engine_input(programme)
        if not interns:
            db.session.rollback()
            raise InvalidState("Add interns before building the rota.")
        result = rota.solve(interns, offers, time_limit=time_limit)
        if result.status not in ("OPTIMAL", "FEASIBLE"):
            db.session.rollback()
            raise InvalidState(f"The rota engine found no rota in {time_limit:g} seconds (status {result.status}): "
                               "nothing was changed. Try again, or tell the portal's administrators.")
        _drop_proposed(programme)
        for p in result.placements:
            db.session.add(Placement(programme_id=programme.id, intern_id=p.intern_id, offer_id=p.offer_id,
                                     provider_id=p.provider_id, week_no=p.week_no, status=PlacementStatus.PROPOSED,
                                     score=float(p.score), reasons=p.reasons))
        programme.status = ProgrammeStatus.ROTA_PROPOSED
        programme.rota_report = result.report()
        audit.record("internship.rota_run", actor=by, ip=ip, target=programme, area_id=programme.area_id,
                     detail=f"{len(result.placements)} placements; {result.full} of {result.interns} interns "
                            f"fully placed; {len(offers)} offers; solver {result.status}")
        db.session.commit()
    return result


def _load_in_week(offer_id: int, monday: date, *, skip: int | None = None) -> int:
    """Live placements on the offer in the calendar week starting `monday`, across all programmes."""
    count = 0
    rows = db.session.execute(
        select(Placement.id, Placement.week_no, InternshipProgramme)
        .join(InternshipProgramme, InternshipProgramme.id == Placement.programme_id)
        .where(Placement.offer_id == offer_id, Placement.status.in_(LIVE)))
    for placement_id, week_no, programme in rows:
        if placement_id != skip and programme.week_starts[week_no - 1] == monday:
            count += 1
    return count


def move_placement(programme: InternshipProgramme, intern: Intern, week_no: int, offer_id: int | None, *,
                   by: User, ip: str | None = None) -> Placement | None:
    """Put the intern at another offer in week `week_no` (or at none). Checked: an internship week of this
    programme's area open that week, with room, at a provider not already in the intern's rota."""
    _check_programme(by, programme)
    if programme.status != ProgrammeStatus.ROTA_PROPOSED:
        raise InvalidState("Only a proposed rota can be edited: run the rota first, or it has been approved.")
    if intern.programme_id != programme.id or intern.is_control or intern.status != "active":
        raise ValidationFailed("Choose an active intern on this programme.", field="intern_id")
    if week_no not in range(1, PLACEMENT_WEEKS + 1):
        raise ValidationFailed("Choose a week from 1 to 4.", field="week_no")
    monday = programme.week_starts[week_no - 1]
    offer = None
    if offer_id is not None:
        offer = db.session.get(Offer, offer_id)
        if offer is None or offer not in candidate_offers(programme):
            raise ValidationFailed("Choose a published internship week open to this programme's area.",
                                   field="offer_id")
        if not week_available(offer, monday):
            raise ValidationFailed(f"{offer.title} does not run in week {week_no} ({week_label(monday)}).",
                                   field="offer_id")
    with write_transaction():
        current = db.session.scalar(select(Placement).where(
            Placement.intern_id == intern.id, Placement.week_no == week_no, Placement.status.in_(LIVE)))
        if current is not None and current.status != PlacementStatus.PROPOSED:
            db.session.rollback()
            raise InvalidState("This week's placement is already approved.")
        if offer is not None:
            others = db.session.scalars(select(Placement.provider_id).where(
                Placement.intern_id == intern.id, Placement.status.in_(LIVE), Placement.week_no != week_no))
            if offer.provider_id in set(others):
                db.session.rollback()
                raise ValidationFailed(f"{intern.reference} already has a week at {offer.provider.name}: "
                                       "four weeks at four different providers.", field="offer_id")
            skip = current.id if current is not None and current.offer_id == offer.id else None
            if _load_in_week(offer.id, monday, skip=skip) >= offer.per_session:
                db.session.rollback()
                raise ValidationFailed(f"{offer.title} is full in week {week_no}: it takes {offer.per_session} "
                                       f"intern{'' if offer.per_session == 1 else 's'} a week.", field="offer_id")
        before = f"offer {current.offer_id}" if current is not None else "none"
        if current is not None:
            db.session.delete(current)
            db.session.flush()
        placement = None
        if offer is not None:
            miles = rota.distance(_engine_intern(intern), _engine_offer(offer))
            placement = Placement(programme_id=programme.id, intern_id=intern.id, offer_id=offer.id,
                                  provider_id=offer.provider_id, week_no=week_no, status=PlacementStatus.PROPOSED,
                                  reasons="Chosen by the coordinator" + (f"; {miles:.1f} miles" if miles else ""))
            db.session.add(placement)
        audit.record("internship.rota_edit", actor=by, ip=ip, target=programme, area_id=programme.area_id,
                     detail=f"{intern.reference} week {week_no}: {before} -> "
                            f"{'offer ' + str(offer.id) if offer else 'none'}")
        try:
            db.session.commit()
        except IntegrityError as error:
            db.session.rollback()
            raise ValidationFailed("The rota changed meanwhile: look again and retry.", field="offer_id") from error
    return placement


def _engine_intern(intern: Intern) -> rota.RotaIntern:
    return rota.RotaIntern(intern.id, intern.reference, intern.latitude, intern.longitude, intern.max_travel_miles)


def _engine_offer(offer: Offer) -> rota.RotaOffer:
    return rota.RotaOffer(offer.id, offer.provider_id, offer.provider.name, offer.sector,
                          offer.provider.latitude, offer.provider.longitude)


def approve_rota(programme: InternshipProgramme, *, by: User, ip: str | None = None) -> int:
    """Approve every proposed placement and tell each provider which interns (references only) come when.
    Returns the number of placements approved. Commits once."""
    _check_programme(by, programme)
    if programme.status != ProgrammeStatus.ROTA_PROPOSED:
        raise InvalidState("There is no proposed rota to approve.")
    with write_transaction():
        placements = list(db.session.scalars(
            select(Placement).where(Placement.programme_id == programme.id,
                                    Placement.status == PlacementStatus.PROPOSED)
            .options(selectinload(Placement.offer), selectinload(Placement.intern))
            .order_by(Placement.provider_id, Placement.week_no, Placement.id)))
        if not placements:
            db.session.rollback()
            raise InvalidState("The rota has no placements to approve.")
        for placement in placements:
            placement.status = PlacementStatus.APPROVED
        programme.status = ProgrammeStatus.ROTA_APPROVED
        by_provider: dict[int, list[Placement]] = {}
        for placement in placements:
            by_provider.setdefault(placement.provider_id, []).append(placement)
        for provider_id, theirs in by_provider.items():
            provider = db.session.get(Organisation, provider_id)
            lines = [(p.intern.reference, f"Week {p.week_no}: {week_label(programme.week_starts[p.week_no - 1])}",
                      p.offer.title, p.offer.mentor_name or "Not given") for p in theirs]
            for person in db.session.scalars(select(User).where(
                    User.organisation_id == provider_id, User.role == Role.PROVIDER,
                    User.status == UserStatus.ACTIVE).order_by(User.id)):
                mail.queue_mail(person.email, "Interns are coming to you: NEET internship programme",
                                "internship_rota_approved", name=person.name, provider_name=provider.name,
                                programme_name=programme.name, lines=lines,
                                url=mail.link("internships.provider_placements"))
        audit.record("internship.rota_approve", actor=by, ip=ip, target=programme, area_id=programme.area_id,
                     detail=f"{len(placements)} placements at {len(by_provider)} providers")
        db.session.commit()
    return len(placements)


# --- completing weeks ------------------------------------------------------------------------------------

def can_complete_now(placement: Placement, today: date | None = None) -> bool:
    today = today or date.today()
    monday = placement_monday(placement)
    return placement.status == PlacementStatus.APPROVED and today >= friday(monday)


def placement_monday(placement: Placement) -> date:
    programme = db.session.get(InternshipProgramme, placement.programme_id)
    return programme.week_starts[placement.week_no - 1]


def complete_placement(placement: Placement, *, by: User, ip: str | None = None, today: date | None = None
                       ) -> Placement:
    """Mark an approved week completed (from its Friday): a contact for the intern. Commits once."""
    if not policy.can_complete_placement(by, placement):
        raise NotAllowed("Only the coordinator or the placement's provider can mark this week completed.")
    if placement.status != PlacementStatus.APPROVED:
        raise InvalidState("Only an approved placement can be marked completed.")
    if not can_complete_now(placement, today):
        raise InvalidState(f"The week ends on {format_date(friday(placement_monday(placement)))}: mark it "
                           "completed then.")
    with write_transaction():
        placement.status = PlacementStatus.COMPLETED
        placement.completed_at = utcnow()
        programme = db.session.get(InternshipProgramme, placement.programme_id)
        audit.record("internship.placement_complete", actor=by, ip=ip, target=placement, area_id=programme.area_id,
                     detail=f"intern {placement.intern.reference} week {placement.week_no}")
        db.session.commit()
    return placement


# --- what pages show ---------------------------------------------------------------------------------------

@dataclass
class RotaCell:
    placement: Placement | None
    provider_name: str = ""
    offer_title: str = ""
    mentor: str = ""
    reasons: str = ""
    status_label: str = ""
    can_complete: bool = False


@dataclass
class RotaRow:
    intern: Intern
    cells: list[RotaCell] = field(default_factory=list)
    contacts: int = 0


def rota_rows(programme: InternshipProgramme, today: date | None = None) -> list[RotaRow]:
    """The rota as a table: one row per active intern, one cell per week."""
    rows = []
    for intern in interns_of(programme):
        if intern.status == "withdrawn":
            continue
        live = {p.week_no: p for p in intern.placements if p.status != PlacementStatus.CANCELLED}
        cells = []
        for week in range(1, PLACEMENT_WEEKS + 1):
            p = live.get(week)
            if p is None:
                cells.append(RotaCell(None))
            else:
                cells.append(RotaCell(p, p.provider.name, p.offer.title, p.offer.mentor_name or "",
                                      p.reasons or "", PLACEMENT_STATUS_LABELS.get(p.status, p.status),
                                      can_complete_now(p, today)))
        rows.append(RotaRow(intern, cells, sum(1 for p in live.values() if p.status == PlacementStatus.COMPLETED)))
    return rows


def offer_choices(programme: InternshipProgramme) -> list[tuple[str, str]]:
    return [(str(o.id), f"{o.provider.name}: {o.title}") for o in candidate_offers(programme)]


@dataclass
class ProviderPlacementRow:
    placement: Placement
    reference: str
    programme_name: str
    week: str
    offer_title: str
    mentor: str
    status_label: str
    can_complete: bool


def provider_placements(user: User, today: date | None = None) -> list[ProviderPlacementRow]:
    """A provider's approved and completed weeks: intern references only, never names."""
    if user.organisation_id is None:
        return []
    placements = db.session.scalars(
        select(Placement).where(Placement.provider_id == user.organisation_id,
                                Placement.status.in_([PlacementStatus.APPROVED, PlacementStatus.COMPLETED]))
        .options(selectinload(Placement.intern), selectinload(Placement.offer))
        .order_by(Placement.programme_id, Placement.week_no, Placement.id))
    rows = []
    for p in placements:
        programme = db.session.get(InternshipProgramme, p.programme_id)
        monday = programme.week_starts[p.week_no - 1]
        rows.append(ProviderPlacementRow(
            placement=p, reference=p.intern.reference, programme_name=programme.name,
            week=f"Week {p.week_no}: {week_label(monday)}", offer_title=p.offer.title,
            mentor=p.offer.mentor_name or "Not given", status_label=PLACEMENT_STATUS_LABELS.get(p.status, p.status),
            can_complete=can_complete_now(p, today)))
    return rows
