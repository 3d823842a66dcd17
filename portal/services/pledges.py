"""Levy transfer pledges (5/6): a levy-paying provider pledges part of its levy funds, with optional criteria;
smaller employers (providers that do not pay the levy) find pledges and apply; the pledger decides, or the portal
approves an application that meets every criterion, at once or after the delay the pledger chose.

Statuses of an application:
    awaiting_approval → awaiting_acceptance (approved: its amount is reserved from the pledge) → accepted
    (the applicant accepts) → funds_used (the pledger records the transfer as used: a LevySpend on its account);
    awaiting_approval → rejected (the pledger, with a reason) or expired (undecided three months after applying);
    awaiting_approval or awaiting_acceptance → withdrawn (the applicant; a reservation goes back to the pledge).

The pledge's remaining amount never goes below zero, even with two approvals at once: the reservation is ONE
conditional UPDATE (`remaining_pence >= amount AND status = 'open'`) whose row count is checked, inside a write
transaction (BEGIN IMMEDIATE on SQLite; on PostgreSQL the UPDATE locks the pledge's row and READ COMMITTED
re-checks the WHERE after waiting), and the CHECK constraint on pledges holds it as a last line.

Auto-approval follows services/auto_approval.py: `apply()` sets auto_approve_at (now + delay) when the application
meets every criterion and the pledge auto-approves; `run_due()` (`flask pledges auto-approve`, cron) approves
those due through the same guarded path as the pledger, and only while auto_approve_at is still set, so a pledger
who approves or rejects first wins. A delay of 0 approves at once, right after the applying transaction commits.
"""
import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal import geo, policy
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import (
    APPLICATION_EXPIRY_MONTHS,
    DEFAULT_PLEDGE_DELAY_DAYS,
    PLEDGE_SHARE_OF_LAST_YEAR,
    ApplicationStatus,
    LevySpend,
    Organisation,
    Pledge,
    PledgeApplication,
    PledgeStatus,
    User,
    UserStatus,
    utcnow,
)
from portal.services import audit, levy, mail
from portal.services.db_locks import write_transaction
from portal.vocab import SECTORS, Role

LEVELS = (2, 3, 4, 5, 6, 7)
MAX_DELAY_DAYS = 90
MAX_DISTANCE_MILES = 500
MAX_APPRENTICES = 100
REASON_MIN, REASON_MAX = 5, 1000
TITLE_MAX = 160
STANDARD_MAX = 160
TOWN_MAX = 120
NOTE_MAX = 200

STATUS_LABELS = {
    ApplicationStatus.AWAITING_APPROVAL: "Awaiting approval",
    ApplicationStatus.AWAITING_ACCEPTANCE: "Awaiting acceptance",
    ApplicationStatus.ACCEPTED: "Accepted",
    ApplicationStatus.FUNDS_USED: "Funds used",
    ApplicationStatus.REJECTED: "Rejected",
    ApplicationStatus.WITHDRAWN: "Withdrawn",
    ApplicationStatus.EXPIRED: "Expired",
}
LIVE = (ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.AWAITING_ACCEPTANCE, ApplicationStatus.ACCEPTED)
RESERVED = (ApplicationStatus.AWAITING_ACCEPTANCE, ApplicationStatus.ACCEPTED, ApplicationStatus.FUNDS_USED)
AUTO_NOTE = "approved automatically: it meets every criterion"

_pledges = Pledge.__table__
_applications = PledgeApplication.__table__


class NotEnoughLeft(InvalidState):
    """The pledge no longer has enough left (or is closed) for this application's amount."""


# --- words --------------------------------------------------------------------------------------------------------

def pounds(pence: int | None) -> str:
    if pence is None:
        return ""
    whole, part = divmod(int(pence), 100)
    return f"£{whole:,}" + (f".{part:02d}" if part else "")


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def sectors_text(codes: list | None) -> str:
    return _listing([SECTORS.get(code, code) for code in codes]) if codes else "Any sector"


def levels_text(levels: list | None) -> str:
    return "Level " + _listing([str(level) for level in sorted(levels)]) if levels else "Any level"


def distance_text(pledge: Pledge) -> str:
    if pledge.max_distance_miles is None:
        return "Anywhere"
    return f"Within {pledge.max_distance_miles} miles of {pledge.provider.name}"


def delay_text(pledge: Pledge) -> str:
    if not pledge.auto_approve:
        return "No: the pledger decides on every application"
    if pledge.auto_approve_delay_days == 0:
        return "Yes, at once, for applications that meet every criterion"
    return (f"Yes, {pledge.auto_approve_delay_days} days after applying, for applications that meet every "
            "criterion (unless the pledger decides first)")


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it has fewer days)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


# --- who -----------------------------------------------------------------------------------------------------------

def _members(organisation_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.organisation_id == organisation_id, User.role == Role.PROVIDER,
                           User.status == UserStatus.ACTIVE).order_by(User.id)))


# --- the 50% rule and the criteria ------------------------------------------------------------------------------

def most_pledgeable(provider: Organisation, *, today: date) -> tuple[int, int]:
    """(last year's funds, the most a new pledge may be), in pence: half the funds entered in the 12 full months
    before this month (services.levy.last_year_funds)."""
    funds = levy.last_year_funds(provider.id, today=today)
    return funds, math.floor(funds * PLEDGE_SHARE_OF_LAST_YEAR)


def unmet_reasons(pledge: Pledge, applicant: Organisation, level: int | None) -> list[str]:
    """The pledge's criteria the applicant (at this apprenticeship level) does not meet, in plain words."""
    reasons = []
    if pledge.max_distance_miles is not None:
        miles = geo.miles(applicant, pledge.provider)
        if miles is None:
            reasons.append(f"the pledge is for employers within {pledge.max_distance_miles} miles of "
                           f"{pledge.provider.name}, and we do not know where {applicant.name} is (add its town "
                           "to your organisation's profile)")
        elif miles > pledge.max_distance_miles:
            reasons.append(f"{applicant.name} is {miles:.0f} miles from {pledge.provider.name}; the pledge is for "
                           f"employers within {pledge.max_distance_miles} miles")
    if pledge.sectors and not set(applicant.sector_codes) & set(pledge.sectors):
        reasons.append(f"the pledge is for {sectors_text(pledge.sectors)}, and {applicant.name}'s sectors are "
                       f"{sectors_text(applicant.sector_codes) if applicant.sector_codes else 'not recorded'}")
    if pledge.levels and level is not None and level not in pledge.levels:
        reasons.append(f"the pledge is for {levels_text(pledge.levels).lower()}, not level {level}")
    return reasons


@dataclass(frozen=True)
class CriterionRow:
    label: str
    wanted: str
    met: bool | None  # None: not known until the applicant says (the level)


def criteria_rows(pledge: Pledge, applicant: Organisation | None, level: int | None = None) -> list[CriterionRow]:
    """The pledge's criteria, and for an applicant whether it meets each (for the browse list and the pledge)."""
    rows = []
    if pledge.max_distance_miles is not None:
        met = None
        if applicant is not None:
            miles = geo.miles(applicant, pledge.provider)
            met = miles is not None and miles <= pledge.max_distance_miles
        rows.append(CriterionRow("Location", distance_text(pledge), met))
    if pledge.sectors:
        met = None if applicant is None else bool(set(applicant.sector_codes) & set(pledge.sectors))
        rows.append(CriterionRow("Sector", sectors_text(pledge.sectors), met))
    if pledge.levels:
        met = None if applicant is None or level is None else level in pledge.levels
        rows.append(CriterionRow("Apprenticeship level", levels_text(pledge.levels), met))
    return rows


# --- creating and closing a pledge -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PledgeDetails:
    title: str
    amount_pence: int
    description: str = ""
    max_distance_miles: int | None = None
    sectors: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    auto_approve: bool = True
    auto_approve_delay_days: int = DEFAULT_PLEDGE_DELAY_DAYS


def _check_pledge(details: PledgeDetails, funds: int, most: int) -> None:
    if not details.title or len(details.title) > TITLE_MAX:
        raise ValidationFailed(f"Enter a title of at most {TITLE_MAX} characters.", field="title")
    if details.amount_pence is None or details.amount_pence <= 0:
        raise ValidationFailed("Enter an amount of more than £0, e.g. 5000.", field="amount")
    if funds <= 0:
        raise ValidationFailed("No levy funds entered your levy account in the 12 months before this month, so "
                               "there is nothing to pledge yet: record your monthly levy entries first.",
                               field="amount")
    if details.amount_pence > most:
        raise ValidationFailed(f"You can pledge at most {pounds(most)}: half of the {pounds(funds)} that entered "
                               "your levy account in the 12 months before this month.", field="amount")
    if details.max_distance_miles is not None and not 1 <= details.max_distance_miles <= MAX_DISTANCE_MILES:
        raise ValidationFailed(f"Enter a distance of 1 to {MAX_DISTANCE_MILES} miles, or leave it blank for "
                               "anywhere.", field="max_distance_miles")
    if any(code not in SECTORS for code in details.sectors):
        raise ValidationFailed("Choose sectors from the list.", field="sectors")
    if any(level not in LEVELS for level in details.levels):
        raise ValidationFailed("Choose levels from 2 to 7.", field="levels")
    if not 0 <= details.auto_approve_delay_days <= MAX_DELAY_DAYS:
        raise ValidationFailed(f"Enter a delay of 0 to {MAX_DELAY_DAYS} days (0 approves at once).",
                               field="auto_approve_delay_days")


def create_pledge(details: PledgeDetails, *, by: User, ip: str | None = None, today: date | None = None) -> Pledge:
    """A levy-paying provider pledges up to half of last year's levy funds. Commits once."""
    today = today or date.today()
    if not policy.can_pledge(by):
        raise NotAllowed("Only verified providers that pay the apprenticeship levy can pledge.")
    provider = by.organisation
    with write_transaction():
        funds, most = most_pledgeable(provider, today=today)
        _check_pledge(details, funds, most)
        pledge = Pledge(
            provider_id=provider.id, area_id=provider.area_id, title=details.title,
            description=details.description or "", amount_pence=details.amount_pence,
            remaining_pence=details.amount_pence, last_year_funds_pence=funds,
            max_distance_miles=details.max_distance_miles, sectors=sorted(details.sectors) or None,
            levels=sorted(details.levels) or None, auto_approve=details.auto_approve,
            auto_approve_delay_days=details.auto_approve_delay_days, created_by_id=by.id,
        )
        db.session.add(pledge)
        db.session.flush()
        audit.record("pledge.create", actor=by, ip=ip, target=pledge, area_id=pledge.area_id,
                     detail=f"{pounds(pledge.amount_pence)} of {pounds(funds)} last year's funds")
        db.session.commit()
    return pledge


def close_pledge(pledge: Pledge, *, by: User, ip: str | None = None) -> int:
    """The pledger closes a pledge: no more applications or approvals; applications still awaiting a decision are
    rejected (their applicants told). Approved ones keep their reservation. Returns how many were rejected."""
    if not policy.can_manage_pledge(by, pledge):
        raise NotAllowed("Only the pledging organisation can close this pledge.")
    with write_transaction():
        result = db.session.execute(
            update(_pledges).where(_pledges.c.id == pledge.id, _pledges.c.status == PledgeStatus.OPEN)
            .values(status=PledgeStatus.CLOSED, updated_at=utcnow()))
        if result.rowcount != 1:
            db.session.rollback()
            raise InvalidState("This pledge is already closed.")
        db.session.refresh(pledge)
        waiting = list(db.session.scalars(select(PledgeApplication).where(
            PledgeApplication.pledge_id == pledge.id,
            PledgeApplication.status == ApplicationStatus.AWAITING_APPROVAL).order_by(PledgeApplication.id)))
        reason = "The pledger closed this pledge."
        for application in waiting:
            if _move(application, ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.REJECTED, by=by,
                     reason=reason):
                audit.record("pledge_application.reject", actor=by, ip=ip, target=application,
                             area_id=pledge.area_id, detail=reason)
                _mail(application, "Not approved", reason, to_pledger=False)
        audit.record("pledge.close", actor=by, ip=ip, target=pledge, area_id=pledge.area_id,
                     detail=f"{pounds(pledge.remaining_pence)} of {pounds(pledge.amount_pence)} left; "
                            f"{len(waiting)} waiting applications rejected")
        db.session.commit()
    return len(waiting)


# --- applying -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApplicationDetails:
    standard: str
    level: int
    apprentices: int
    amount_pence: int
    starts_on: date
    town: str | None = None
    message: str | None = None


def _check_application(pledge: Pledge, details: ApplicationDetails, today: date) -> None:
    if not details.standard or len(details.standard) > STANDARD_MAX:
        raise ValidationFailed(f"Enter the apprenticeship standard, at most {STANDARD_MAX} characters.",
                               field="standard")
    if details.level not in LEVELS:
        raise ValidationFailed("Choose a level from 2 to 7.", field="level")
    if details.apprentices is None or not 1 <= details.apprentices <= MAX_APPRENTICES:
        raise ValidationFailed(f"Enter a number of apprentices from 1 to {MAX_APPRENTICES}.", field="apprentices")
    if details.amount_pence is None or details.amount_pence <= 0:
        raise ValidationFailed("Enter an amount of more than £0, e.g. 4000.", field="amount")
    if details.amount_pence > pledge.remaining_pence:
        raise ValidationFailed(f"This pledge has {pounds(pledge.remaining_pence)} left: ask for at most that.",
                               field="amount")
    if details.starts_on is None or details.starts_on < today:
        raise ValidationFailed("The start date must be today or later.", field="starts_on")
    if details.town and len(details.town) > TOWN_MAX:
        raise ValidationFailed(f"Enter a town of at most {TOWN_MAX} characters.", field="town")


def apply(pledge: Pledge, details: ApplicationDetails, *, by: User, ip: str | None = None,
          now: datetime | None = None) -> PledgeApplication:
    """A smaller employer applies to an open pledge. Checks every criterion; an application meeting them all on a
    pledge that auto-approves is due at now + the pledger's delay (0: approved at once, after this commits)."""
    now = now or utcnow()
    if not policy.can_apply_to_pledge(by, pledge):
        raise NotAllowed("Only verified providers that do not pay the apprenticeship levy can apply for pledges.")
    applicant = by.organisation
    with write_transaction():
        db.session.refresh(pledge)
        if pledge.status != PledgeStatus.OPEN:
            raise InvalidState("This pledge is closed: it takes no more applications.")
        _check_application(pledge, details, now.date())
        live = db.session.scalar(select(func.count()).select_from(PledgeApplication).where(
            PledgeApplication.pledge_id == pledge.id, PledgeApplication.applicant_id == applicant.id,
            PledgeApplication.status.in_(LIVE)))
        if live:
            raise InvalidState("Your organisation already has an application to this pledge that is still going: "
                               "withdraw it first to apply again.")
        reasons = unmet_reasons(pledge, applicant, details.level)
        meets = not reasons
        application = PledgeApplication(
            pledge_id=pledge.id, applicant_id=applicant.id, standard=details.standard, level=details.level,
            apprentices=details.apprentices, amount_pence=details.amount_pence, town=details.town or None,
            starts_on=details.starts_on, message=details.message or None, meets_criteria=meets,
            unmet_reasons="; ".join(reasons) or None,
            auto_approve_at=now + timedelta(days=pledge.auto_approve_delay_days)
            if meets and pledge.auto_approve else None,
            expires_at=add_months(now, APPLICATION_EXPIRY_MONTHS), created_by_id=by.id, created_at=now,
        )
        db.session.add(application)
        db.session.flush()
        audit.record("pledge_application.create", actor=by, ip=ip, target=application, area_id=pledge.area_id,
                     detail=f"pledge {pledge.id}: {pounds(application.amount_pence)}, "
                            + ("meets every criterion" if meets else f"does not meet: {application.unmet_reasons}"))
        _mail(application, "New application", _applied_text(application), to_applicant=False)
        _mail(application, "Application sent", _applied_text(application), to_pledger=False)
        at_once = application.auto_approve_at is not None and application.auto_approve_at <= now
        db.session.commit()
    if at_once:
        run_due(now=now, only=[application.id])
        db.session.refresh(application)
    return application


def _applied_text(application: PledgeApplication) -> str:
    if application.auto_approve_at is not None:
        if application.auto_approve_at <= application.created_at:
            return "It meets every criterion of the pledge, so it is approved at once."
        return (f"It meets every criterion of the pledge, so it approves itself on "
                f"{_day(application.auto_approve_at.date())} unless the pledger decides first.")
    if not application.meets_criteria:
        return (f"It does not meet every criterion ({application.unmet_reasons}), so it waits for the pledger's "
                f"decision until {_day(application.expires_at.date())}.")
    return f"It waits for the pledger's decision until {_day(application.expires_at.date())}."


# --- moving an application ----------------------------------------------------------------------------------------

def _move(application: PledgeApplication, from_status: str, to_status: str, *, by: User | None,
          reason: str | None = None, due_by: datetime | None = None) -> bool:
    """One conditional UPDATE from one status to the next; True if this transaction moved it."""
    where = [_applications.c.id == application.id, _applications.c.status == from_status]
    if due_by is not None:
        where += [_applications.c.auto_approve_at.is_not(None), _applications.c.auto_approve_at <= due_by]
    values = {"status": to_status, "updated_at": utcnow()}
    if from_status == ApplicationStatus.AWAITING_APPROVAL:
        values.update(auto_approve_at=None, decided_at=utcnow(), decided_by_id=getattr(by, "id", None))
    if reason is not None:
        values["reason"] = reason
    moved = db.session.execute(update(_applications).where(*where).values(**values)).rowcount == 1
    db.session.refresh(application)
    return moved


def _not_enough(pledge_id: int, amount: int) -> NotEnoughLeft:
    pledge = db.session.get(Pledge, pledge_id, populate_existing=True)
    if pledge.status != PledgeStatus.OPEN:
        return NotEnoughLeft("This pledge is closed, so no more applications can be approved.")
    return NotEnoughLeft(f"This pledge no longer has enough left: {pounds(pledge.remaining_pence)} left, and this "
                         f"application is for {pounds(amount)}.")


def _has_room(amount: int):
    """The pledge has the amount left (a function, so a test can remove it and meet the CHECK instead)."""
    return _pledges.c.remaining_pence >= amount


def _reserve(pledge_id: int, amount: int) -> None:
    """Take the amount from the pledge's remaining in one conditional UPDATE; raise (the caller rolls back) if it
    does not fit or the pledge is closed."""
    try:
        result = db.session.execute(
            update(_pledges)
            .where(_pledges.c.id == pledge_id, _has_room(amount), _pledges.c.status == PledgeStatus.OPEN)
            .values(remaining_pence=_pledges.c.remaining_pence - amount, updated_at=utcnow()))
    except IntegrityError:  # the CHECK remaining_pence >= 0: only if the WHERE above were ever wrong
        db.session.rollback()
        raise _not_enough(pledge_id, amount) from None
    if result.rowcount != 1:
        error = _not_enough(pledge_id, amount)
        db.session.rollback()
        raise error


def _give_back(pledge_id: int, amount: int) -> None:
    db.session.execute(update(_pledges).where(_pledges.c.id == pledge_id)
                       .values(remaining_pence=_pledges.c.remaining_pence + amount, updated_at=utcnow()))


def _mail(application: PledgeApplication, headline: str, text: str, *, to_pledger: bool = True,
          to_applicant: bool = True) -> None:
    """Tell the pledger's and/or the applicant's provider contacts what happened to an application."""
    pledge, applicant = application.pledge, application.applicant
    context = {"pledge_title": pledge.title, "pledger_name": pledge.provider.name, "applicant_name": applicant.name,
               "amount": pounds(application.amount_pence), "standard": application.standard,
               "level": application.level, "apprentices": application.apprentices, "headline": headline,
               "text": text, "status": status_label(application.status),
               "url": mail.link("pledges.view", pledge_id=pledge.id)}
    subject = f"{headline}: {applicant.name} for {pledge.title}"
    recipients = []
    if to_pledger:
        recipients += [(user, True) for user in _members(pledge.provider_id)]
    if to_applicant:
        recipients += [(user, False) for user in _members(application.applicant_id)]
    for user, for_pledger in recipients:
        mail.queue_mail(user.email, subject, "pledge_update", name=user.name, for_pledger=for_pledger, **context)


def _check_pledger(application: PledgeApplication, by: User) -> None:
    if not policy.can_manage_pledge(by, application.pledge):
        raise NotAllowed("Only the pledging organisation can decide on this application.")


def _check_applicant(application: PledgeApplication, by: User) -> None:
    if not policy.can_act_as_applicant(by, application):
        raise NotAllowed("Only the applying organisation can do this.")


@dataclass(frozen=True)
class Approval:
    application: PledgeApplication
    already: bool


def approve(application: PledgeApplication, *, by: User | None, ip: str | None = None,
            due_by: datetime | None = None) -> Approval:
    """Approve an application and reserve its amount from the pledge, or refuse and change nothing. Commits once.

    `by=None` is the portal auto-approving (run_due): it needs `due_by` and moves the application only while its
    auto_approve_at is still set and due, so a pledger who decided first wins."""
    system = by is None
    if system and due_by is None:
        raise ValueError("an auto-approval needs due_by")
    if not system:
        _check_pledger(application, by)
    with write_transaction():
        moved = _move(application, ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.AWAITING_ACCEPTANCE,
                      by=by, due_by=due_by if system else None)
        if not moved:
            status = application.status
            db.session.rollback()
            if status in RESERVED:
                return Approval(application, already=True)
            if system and status == ApplicationStatus.AWAITING_APPROVAL:
                raise InvalidState("The pledger stepped in first: it waits for them.")
            raise InvalidState(f"This application is {status_label(status).lower()}, so it cannot be approved.")
        _reserve(application.pledge_id, application.amount_pence)
        pledge = db.session.get(Pledge, application.pledge_id, populate_existing=True)
        audit.record("pledge_application.auto_approve" if system else "pledge_application.approve", actor=by, ip=ip,
                     target=application, area_id=pledge.area_id,
                     detail=f"pledge {pledge.id}: {pounds(application.amount_pence)} reserved, "
                            f"{pounds(pledge.remaining_pence)} left" + (f" ({AUTO_NOTE})" if system else ""))
        _mail(application, "Approved",
              ("It met every criterion, so it was approved automatically. " if system else "The pledger approved it. ")
              + f"{pounds(application.amount_pence)} is reserved for it; the applicant now accepts it to go ahead.")
        db.session.commit()
    return Approval(application, already=False)


def reject(application: PledgeApplication, *, by: User, reason: str, ip: str | None = None) -> PledgeApplication:
    """The pledger rejects an application awaiting approval, with a reason mailed to both sides. Commits once."""
    _check_pledger(application, by)
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.", field="reason")
    with write_transaction():
        if not _move(application, ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.REJECTED, by=by,
                     reason=reason):
            db.session.rollback()
            raise InvalidState(f"This application is {status_label(application.status).lower()}: there is nothing "
                               "to reject.")
        audit.record("pledge_application.reject", actor=by, ip=ip, target=application,
                     area_id=application.pledge.area_id, detail=reason)
        _mail(application, "Not approved", f"The pledger did not approve it. The reason they gave: {reason}")
        db.session.commit()
    return application


def withdraw(application: PledgeApplication, *, by: User, reason: str | None = None,
             ip: str | None = None) -> PledgeApplication:
    """The applicant withdraws before accepting; an approved application's reservation goes back to the pledge in
    the same transaction. Commits once."""
    _check_applicant(application, by)
    reason = (reason or "").strip() or None
    if reason and len(reason) > REASON_MAX:
        raise ValidationFailed(f"Give a reason of at most {REASON_MAX} characters.", field="reason")
    with write_transaction():
        db.session.refresh(application)
        from_status = application.status
        if from_status not in (ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.AWAITING_ACCEPTANCE) or \
                not _move(application, from_status, ApplicationStatus.WITHDRAWN, by=by, reason=reason):
            db.session.rollback()
            raise InvalidState(f"This application is {status_label(application.status).lower()}: it can no longer "
                               "be withdrawn.")
        returned = from_status == ApplicationStatus.AWAITING_ACCEPTANCE
        if returned:
            _give_back(application.pledge_id, application.amount_pence)
        audit.record("pledge_application.withdraw", actor=by, ip=ip, target=application,
                     area_id=application.pledge.area_id,
                     detail=(f"{pounds(application.amount_pence)} returned to the pledge" if returned else
                             "before a decision") + (f": {reason}" if reason else ""))
        _mail(application, "Withdrawn", "The applicant withdrew it."
              + (f" {pounds(application.amount_pence)} is back in the pledge." if returned else "")
              + (f" Their reason: {reason}" if reason else ""))
        db.session.commit()
    return application


def accept(application: PledgeApplication, *, by: User, ip: str | None = None) -> bool:
    """The applicant accepts an approved application. Returns False when it was accepted already."""
    _check_applicant(application, by)
    with write_transaction():
        if not _move(application, ApplicationStatus.AWAITING_ACCEPTANCE, ApplicationStatus.ACCEPTED, by=by):
            status = application.status
            db.session.rollback()
            if status in (ApplicationStatus.ACCEPTED, ApplicationStatus.FUNDS_USED):
                return False
            raise InvalidState(f"This application is {status_label(status).lower()}, so it cannot be accepted.")
        audit.record("pledge_application.accept", actor=by, ip=ip, target=application,
                     area_id=application.pledge.area_id, detail=f"{pounds(application.amount_pence)}")
        _mail(application, "Accepted", "The applicant accepted it. The pledger records the transfer once the funds "
                                       "are used.")
        db.session.commit()
    return True


def record_funds_used(application: PledgeApplication, *, by: User, ip: str | None = None,
                      today: date | None = None) -> LevySpend:
    """The pledger records that the transfer was used: a spend on the pledger's levy account this month."""
    _check_pledger(application, by)
    today = today or date.today()
    with write_transaction():
        # The levy account's own rule: a transfer is spent from funds that are there and not yet expired.
        problem = levy.spend_problem(application.pledge.provider_id, month=today.replace(day=1),
                                     amount_pence=application.amount_pence, today=today)
        if problem:
            db.session.rollback()
            raise ValidationFailed(f"The transfer cannot be recorded as used yet. {problem}", field="amount")
        if not _move(application, ApplicationStatus.ACCEPTED, ApplicationStatus.FUNDS_USED, by=by):
            db.session.rollback()
            raise InvalidState(f"This application is {status_label(application.status).lower()}: only an accepted "
                               "application's transfer can be recorded as used.")
        pledge = application.pledge
        spend = LevySpend(provider_id=pledge.provider_id, month=today.replace(day=1),
                          amount_pence=application.amount_pence,
                          note=f"transfer to {application.applicant.name}"[:NOTE_MAX],
                          application_id=application.id, created_by_id=by.id)
        db.session.add(spend)
        audit.record("pledge_application.funds_used", actor=by, ip=ip, target=application, area_id=pledge.area_id,
                     detail=f"{pounds(application.amount_pence)} spent from the levy account")
        _mail(application, "Transfer used", f"The pledger recorded the transfer of {pounds(application.amount_pence)} "
                                            "as used.")
        db.session.commit()
    return spend


# --- the scheduled jobs ---------------------------------------------------------------------------------------------

@dataclass
class RunSummary:
    approved: list[int] = field(default_factory=list)
    stopped: list[tuple[int, str]] = field(default_factory=list)  # (application id, why the pledger decides)
    skipped: list[int] = field(default_factory=list)  # the pledger (or another run) got there first

    @property
    def message(self) -> str:
        text = f"{len(self.approved)} auto-approved"
        if self.stopped:
            text += f"; {len(self.stopped)} left for the pledger"
        if self.skipped:
            text += f"; {len(self.skipped)} decided by someone else first"
        return text


def _stop(application: PledgeApplication, reason: str) -> bool:
    """The application no longer approves itself: it waits for the pledger, who is mailed. Commits."""
    with write_transaction():
        result = db.session.execute(
            update(_applications).where(_applications.c.id == application.id,
                                        _applications.c.status == ApplicationStatus.AWAITING_APPROVAL,
                                        _applications.c.auto_approve_at.is_not(None))
            .values(auto_approve_at=None, updated_at=utcnow()))
        if result.rowcount != 1:
            db.session.rollback()
            return False
        db.session.refresh(application)
        audit.record("pledge_application.auto_approval_stopped", target=application,
                     area_id=application.pledge.area_id, detail=reason)
        _mail(application, "Needs the pledger's decision",
              f"It was not approved automatically: {reason}. It waits for the pledger's decision.")
        db.session.commit()
    return True


def _still_unmet(application: PledgeApplication) -> str | None:
    pledge = application.pledge
    if not pledge.auto_approve:
        return "the pledge no longer approves applications automatically"
    reasons = unmet_reasons(pledge, application.applicant, application.level)
    return "; ".join(reasons) or None


def run_due(*, now: datetime | None = None, only: Iterable[int] | None = None) -> RunSummary:
    """Approve every application due by `now` (naive UTC), each in its own transaction (`flask pledges
    auto-approve`, every few minutes). Running it twice approves nothing twice."""
    now = now or utcnow()
    summary = RunSummary()
    query = (select(PledgeApplication.id)
             .where(PledgeApplication.status == ApplicationStatus.AWAITING_APPROVAL,
                    PledgeApplication.auto_approve_at.is_not(None), PledgeApplication.auto_approve_at <= now)
             .order_by(PledgeApplication.auto_approve_at, PledgeApplication.id))
    if only is not None:
        query = query.where(PledgeApplication.id.in_(list(only) or [-1]))
    ids = list(db.session.scalars(query))
    db.session.rollback()
    for application_id in ids:
        application = db.session.get(PledgeApplication, application_id)
        reason = _still_unmet(application)
        if reason is None:
            try:
                outcome = approve(application, by=None, due_by=now)
            except NotEnoughLeft as error:
                reason = error.message.rstrip(".")
                reason = reason[:1].lower() + reason[1:]
            except InvalidState:
                summary.skipped.append(application_id)
                continue
            else:
                (summary.skipped if outcome.already else summary.approved).append(application_id)
                continue
        if _stop(application, reason):
            summary.stopped.append((application_id, reason))
        else:
            summary.skipped.append(application_id)
    return summary


def expire(now: datetime | None = None) -> int:
    """Expire applications still awaiting a decision three months after applying (`flask pledges expire`, daily).
    They hold no reservation, so nothing goes back to any pledge. One commit for the run."""
    now = now or utcnow()
    expired = 0
    with write_transaction():
        candidates = list(db.session.scalars(
            select(PledgeApplication)
            .where(PledgeApplication.status == ApplicationStatus.AWAITING_APPROVAL,
                   PledgeApplication.expires_at <= now)
            .order_by(PledgeApplication.id)))
        for application in candidates:
            if _move(application, ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.EXPIRED, by=None):
                audit.record("pledge_application.expire", target=application, area_id=application.pledge.area_id,
                             detail=f"no decision within {APPLICATION_EXPIRY_MONTHS} months")
                _mail(application, "Expired", f"Nobody decided on it within {APPLICATION_EXPIRY_MONTHS} months of "
                                              "applying, so it has expired. The applicant may apply again.")
                expired += 1
        db.session.commit()
    return expired


# --- what the pages show ---------------------------------------------------------------------------------------------

def open_pledges(*, sector: str | None = None, level: int | None = None) -> list[Pledge]:
    """Open pledges with something left, newest first; a sector or level filter keeps those that accept it (a
    pledge without that criterion accepts any)."""
    pledges = db.session.scalars(
        select(Pledge).where(Pledge.status == PledgeStatus.OPEN, Pledge.remaining_pence > 0)
        .order_by(Pledge.created_at.desc(), Pledge.id.desc()))
    return [p for p in pledges if (not sector or not p.sectors or sector in p.sectors)
            and (not level or not p.levels or level in p.levels)]


def pledges_of(provider_id: int) -> list[Pledge]:
    return list(db.session.scalars(select(Pledge).where(Pledge.provider_id == provider_id)
                                   .order_by(Pledge.created_at.desc(), Pledge.id.desc())))


def applications_of(applicant_id: int, pledge_id: int | None = None) -> list[PledgeApplication]:
    query = select(PledgeApplication).where(PledgeApplication.applicant_id == applicant_id)
    if pledge_id is not None:
        query = query.where(PledgeApplication.pledge_id == pledge_id)
    return list(db.session.scalars(query.order_by(PledgeApplication.created_at.desc(), PledgeApplication.id.desc())))


def pledges_in_areas(area_ids: set[int] | None) -> list[Pledge]:
    query = select(Pledge).order_by(Pledge.created_at.desc(), Pledge.id.desc())
    if area_ids is not None:
        query = query.where(Pledge.area_id.in_(area_ids or {-1}))
    return list(db.session.scalars(query))


def waiting_count(pledge: Pledge) -> int:
    return sum(1 for a in pledge.applications if a.status == ApplicationStatus.AWAITING_APPROVAL)


def waiting_text(application: PledgeApplication, now: datetime | None = None) -> str:
    """When an application awaiting approval approves itself or expires."""
    if application.status != ApplicationStatus.AWAITING_APPROVAL:
        return ""
    if application.auto_approve_at is not None:
        if application.auto_approve_at <= (now or utcnow()):
            return "Approves itself at the next run, unless the pledger decides first"
        return f"Approves itself on {_day(application.auto_approve_at.date())}, unless the pledger decides first"
    return f"Waits for the pledger's decision until {_day(application.expires_at.date())}"


@dataclass(frozen=True)
class Action:
    endpoint: str
    label: str
    post: bool  # a one-button POST form; otherwise a link to a confirmation page


def actions_for(user: User, application: PledgeApplication) -> list[Action]:
    """What this user may do to this application now (the template shows these and nothing else)."""
    status = application.status
    actions = []
    if policy.can_manage_pledge(user, application.pledge):
        if status == ApplicationStatus.AWAITING_APPROVAL:
            if application.pledge.status == PledgeStatus.OPEN:
                actions.append(Action("pledges.approve", "Approve", True))
            actions.append(Action("pledges.reject", "Reject", False))
        if status == ApplicationStatus.ACCEPTED:
            actions.append(Action("pledges.use", "Record the transfer as used", False))
    if policy.can_act_as_applicant(user, application):
        if status == ApplicationStatus.AWAITING_ACCEPTANCE:
            actions.append(Action("pledges.accept", "Accept", True))
        if status in (ApplicationStatus.AWAITING_APPROVAL, ApplicationStatus.AWAITING_ACCEPTANCE):
            actions.append(Action("pledges.withdraw", "Withdraw", False))
    return actions


def facts(pledge: Pledge) -> list[tuple[str, str]]:
    return [
        ("Pledged by", pledge.provider.name),
        ("Status", "Open" if pledge.status == PledgeStatus.OPEN else "Closed"),
        ("Amount pledged", pounds(pledge.amount_pence)),
        ("Remaining", pounds(pledge.remaining_pence)),
        ("Location", distance_text(pledge)),
        ("Sectors", sectors_text(pledge.sectors)),
        ("Apprenticeship levels", levels_text(pledge.levels)),
        ("Approves automatically", delay_text(pledge)),
    ]
