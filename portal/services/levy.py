"""The apprenticeship levy account of a levy-paying provider (5/6): monthly entries, spends, the expiry
projection, levy at risk across areas, and reminder mails before funds expire.

The month-by-month arithmetic is the pure function portal/services/levy_projection.project; this module loads
the rows, checks the rules, writes, audits and commits (one transaction per use case).

Funds entered in month E expire at the start of month E+24. "Expiring within N months" means expiring at the
start of one of the next N months (this month's expiry, on its first day, has already happened).

Reminders (`send_reminders`, `flask levy remind`) are made idempotent through the audit log: each reminder for a
provider and an expiring month is recorded as an audit event `levy.expiry_reminder` on the provider whose detail
starts with the month ("2027-01: ..."), and a month already recorded there is not mailed again.
"""
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import LEVY_EXPIRY_MONTHS, AuditEvent, LevyEntry, LevySpend, Offer, Organisation, User
from portal.models.base import utcnow
from portal.models.users import UserStatus
from portal.services import audit, mail
from portal.services.db_locks import write_transaction
from portal.services.levy_projection import EXPIRY_MONTHS, Projection, add_months, project, simulate
from portal.services.offers import pounds
from portal.vocab import Role

FIRST_LEVY_MONTH = date(2017, 4, 1)  # the levy began in April 2017
MAX_AMOUNT_PENCE = 10**9 * 100 - 1  # under £1bn a month: anything more is a typing mistake
NOTE_MAX = 200
RECENT = 12  # entries and spends listed on the account page
SOON_MONTHS = 3
LATER_MONTHS = 6
REMINDER_ACTION = "levy.expiry_reminder"

assert EXPIRY_MONTHS == LEVY_EXPIRY_MONTHS, "levy_projection and the model must agree"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def month_label(month: date) -> str:
    return month.strftime("%B %Y")


def last_year_funds(provider_id: int, *, today: date) -> int:
    """Pence entered in the provider's levy account in the 12 full months before `today`'s month."""
    this_month = first_of_month(today)
    start = add_months(this_month, -12)
    total = db.session.scalar(
        select(func.coalesce(func.sum(LevyEntry.amount_pence), 0)).where(
            LevyEntry.provider_id == provider_id, LevyEntry.month >= start, LevyEntry.month < this_month
        )
    )
    return int(total or 0)


# --- Reading -------------------------------------------------------------------------------------------------


def _rows(provider_id: int) -> tuple[list[tuple[date, int]], list[tuple[date, int]]]:
    entries = db.session.execute(
        select(LevyEntry.month, LevyEntry.amount_pence).where(LevyEntry.provider_id == provider_id)
    ).all()
    spends = db.session.execute(
        select(LevySpend.month, func.sum(LevySpend.amount_pence)).where(LevySpend.provider_id == provider_id)
        .group_by(LevySpend.month)
    ).all()
    return [(m, int(a)) for m, a in entries], [(m, int(a)) for m, a in spends]


def projection(provider_id: int, *, today: date, months: int = EXPIRY_MONTHS) -> Projection:
    """The provider's account month by month from today's month (levy_projection.project over its rows)."""
    entries, spends = _rows(provider_id)
    return project(entries, spends, today=today, months=months)


def expiring_within(proj: Projection, *, today: date, months: int) -> int:
    """What expires at the start of one of the next `months` months."""
    this_month = first_of_month(today)
    return proj.expiring_between(add_months(this_month, 1), add_months(this_month, months))


@dataclass
class Account:
    provider: Organisation
    projection: Projection
    balance: int  # at the end of this month, as recorded so far
    within_soon: int
    within_later: int
    last_year: int
    entries: list[LevyEntry]
    spends: list[LevySpend]
    levy_places: list[Offer]


def account(provider: Organisation, *, today: date) -> Account:
    proj = projection(provider.id, today=today)
    entries = list(db.session.scalars(
        select(LevyEntry).where(LevyEntry.provider_id == provider.id).order_by(LevyEntry.month.desc()).limit(RECENT)
    ))
    spends = list(db.session.scalars(
        select(LevySpend).where(LevySpend.provider_id == provider.id)
        .order_by(LevySpend.month.desc(), LevySpend.id.desc()).limit(RECENT)
    ))
    places = list(db.session.scalars(
        select(Offer).where(Offer.provider_id == provider.id, Offer.type == "levy_place")
        .order_by(Offer.levy_expires_on.is_(None), Offer.levy_expires_on, Offer.id)
    ))
    return Account(
        provider=provider, projection=proj, balance=proj.months[0].balance,
        within_soon=expiring_within(proj, today=today, months=SOON_MONTHS),
        within_later=expiring_within(proj, today=today, months=LATER_MONTHS),
        last_year=last_year_funds(provider.id, today=today), entries=entries, spends=spends, levy_places=places,
    )


def month_choices(*, today: date) -> list[date]:
    """The months a user may record: this month and the 23 before it (older funds have expired), newest first."""
    this_month = first_of_month(today)
    return [add_months(this_month, -n) for n in range(EXPIRY_MONTHS)]


# --- Writing -------------------------------------------------------------------------------------------------


def _check_writer(provider: Organisation, by: User) -> None:
    if by.role != Role.PROVIDER or by.organisation_id != provider.id:
        raise NotAllowed("Only the organisation's own users can change its levy account.")
    if not provider.is_provider or not provider.levy_payer:
        raise InvalidState("Levy accounts are for levy-paying providers: mark the organisation as a levy payer "
                           "first.")


def _check_month(month: date, *, today: date) -> date:
    if month != first_of_month(month):
        raise ValidationFailed("Choose a month.", field="month")
    if month > first_of_month(today):
        raise ValidationFailed("Choose this month or an earlier one: this month has not started yet.", field="month")
    if month < FIRST_LEVY_MONTH:
        raise ValidationFailed("Choose a month from April 2017, when the levy began.", field="month")
    return month


def _check_amount(amount_pence: int | None) -> int:
    if amount_pence is None:
        raise ValidationFailed("Enter an amount in pounds, e.g. 1,250.00.", field="amount")
    if amount_pence <= 0:
        raise ValidationFailed("Enter an amount of more than £0.", field="amount")
    if amount_pence > MAX_AMOUNT_PENCE:
        raise ValidationFailed("Enter an amount of less than £1,000,000,000.", field="amount")
    return amount_pence


def _lock_account(provider_id: int) -> None:
    """PostgreSQL: one writer per levy account at a time (SQLite: write_transaction already holds the file)."""
    db.session.execute(select(Organisation.id).where(Organisation.id == provider_id).with_for_update())


def _first_shortfall(entries, spends, *, until: date):
    rows, _ = simulate(entries, spends, until=until)
    return next((row for row in rows if row.shortfall), None)


@dataclass(frozen=True)
class EntryResult:
    entry: LevyEntry
    previous: int | None  # the amount it replaced, if the month was already recorded


def record_entry(provider: Organisation, *, month: date, amount_pence: int | None, replace: bool, by: User,
                 today: date, ip: str | None = None) -> EntryResult:
    """Record what entered the levy account in a month (one entry per month). A month already recorded is only
    changed when `replace` is set, and never to less than has already been spent from it. Audited; commits once."""
    _check_writer(provider, by)
    month = _check_month(month, today=today)
    amount = _check_amount(amount_pence)
    try:
        with write_transaction():
            _lock_account(provider.id)
            entry = db.session.scalar(
                select(LevyEntry).where(LevyEntry.provider_id == provider.id, LevyEntry.month == month)
            )
            previous = entry.amount_pence if entry is not None else None
            if entry is not None and not replace:
                raise ValidationFailed(
                    f"You have already recorded {pounds(previous)} for {month_label(month)}. Tick “Replace the "
                    "amount already recorded” to change it.", field="month")
            if previous == amount:
                raise ValidationFailed(f"{month_label(month)} is already recorded as {pounds(amount)}.",
                                       field="amount")
            entries, spends = _rows(provider.id)
            entries = [(m, a) for m, a in entries if m != month] + [(month, amount)]
            short = _first_shortfall(entries, spends, until=max([first_of_month(today), *(m for m, _ in spends)]))
            if short is not None:
                raise ValidationFailed(
                    f"With {pounds(amount)} for {month_label(month)}, the spends recorded for "
                    f"{month_label(short.month)} would be {pounds(short.shortfall)} more than the funds available "
                    "then. Check the amount, or correct the spends first.", field="amount")
            if entry is None:
                entry = LevyEntry(provider_id=provider.id, month=month, amount_pence=amount, created_by_id=by.id)
                db.session.add(entry)
                db.session.flush()
                audit.record("levy.entry_recorded", actor=by, ip=ip, target=provider, area_id=provider.area_id,
                             detail=f"{month.isoformat()[:7]}: {pounds(amount)} entered")
            else:
                entry.amount_pence = amount
                audit.record("levy.entry_changed", actor=by, ip=ip, target=provider, area_id=provider.area_id,
                             detail=f"{month.isoformat()[:7]}: {pounds(previous)} changed to {pounds(amount)}")
            db.session.commit()
    except IntegrityError:  # PostgreSQL: someone recorded the same month at the same moment
        raise ValidationFailed(f"{month_label(month)} has just been recorded by someone else. Check the account "
                               "and try again.", field="month") from None
    return EntryResult(entry=entry, previous=previous)


def spend_problem(provider_id: int, *, month: date, amount_pence: int, today: date) -> str | None:
    """Why a spend of `amount_pence` in `month` cannot be recorded (None if it can): more than is left of the funds
    not yet expired in that month, or it would take funds a later recorded spend needs. For use inside a write
    transaction (record_spend; a pledge's transfer recorded as used)."""
    entries, spends = _rows(provider_id)
    rows, _ = simulate(entries, spends, until=month)
    available = rows[-1].balance if rows else 0
    if amount_pence > available:
        if not available:
            return f"There are no funds to spend in {month_label(month)}: record what entered the account first."
        return (f"You can spend at most {pounds(available)} in {month_label(month)}: that is what is left of the "
                "funds that had not expired then.")
    with_new = [*spends, (month, amount_pence)]
    short = _first_shortfall(entries, with_new, until=max([first_of_month(today), *(m for m, _ in with_new)]))
    if short is not None:
        return (f"This spend would leave the spends recorded for {month_label(short.month)} "
                f"{pounds(short.shortfall)} short: they would need the same funds.")
    return None


def record_spend(provider: Organisation, *, month: date, amount_pence: int | None, note: str | None, by: User,
                 today: date, ip: str | None = None) -> LevySpend:
    """Record funds used from the account in a month. Spends take the oldest funds not yet expired; a spend larger
    than what is available in its month (or one that leaves a later recorded spend uncovered) is refused.
    Audited; commits once."""
    _check_writer(provider, by)
    month = _check_month(month, today=today)
    amount = _check_amount(amount_pence)
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise ValidationFailed(f"Keep the note to {NOTE_MAX} characters.", field="note")
    with write_transaction():
        _lock_account(provider.id)
        problem = spend_problem(provider.id, month=month, amount_pence=amount, today=today)
        if problem:
            raise ValidationFailed(problem, field="amount")
        spend = LevySpend(provider_id=provider.id, month=month, amount_pence=amount, note=note, created_by_id=by.id)
        db.session.add(spend)
        db.session.flush()
        audit.record("levy.spend_recorded", actor=by, ip=ip, target=provider, area_id=provider.area_id,
                     detail=f"{month.isoformat()[:7]}: {pounds(amount)} spent")
        db.session.commit()
    return spend


# --- Across areas --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AtRisk:
    provider_id: int
    provider_name: str
    area_name: str
    within_soon: int  # expiring within 3 months
    within_later: int  # expiring within 6 months (includes the first three)
    next_month: date | None  # the first month something expires within 6 months


def _levy_payers(area_ids: set[int] | None) -> list[tuple[int, str, str]]:
    from portal.models import Area

    query = (select(Organisation.id, Organisation.name, Area.name).join(Area, Area.id == Organisation.area_id)
             .where(Organisation.kind == "provider", Organisation.levy_payer.is_(True)))
    if area_ids is not None:
        query = query.where(Organisation.area_id.in_(area_ids or {-1}))
    return [tuple(row) for row in db.session.execute(query.order_by(Organisation.name, Organisation.id))]


def _rows_for(provider_ids: list[int]) -> tuple[dict, dict]:
    entries: dict[int, list] = defaultdict(list)
    spends: dict[int, list] = defaultdict(list)
    if not provider_ids:
        return entries, spends
    for pid, month, amount in db.session.execute(
        select(LevyEntry.provider_id, LevyEntry.month, LevyEntry.amount_pence)
        .where(LevyEntry.provider_id.in_(provider_ids))
    ):
        entries[pid].append((month, int(amount)))
    for pid, month, amount in db.session.execute(
        select(LevySpend.provider_id, LevySpend.month, func.sum(LevySpend.amount_pence))
        .where(LevySpend.provider_id.in_(provider_ids)).group_by(LevySpend.provider_id, LevySpend.month)
    ):
        spends[pid].append((month, int(amount)))
    return entries, spends


def expiring(area_ids: set[int] | None, *, today: date) -> list[AtRisk]:
    """Levy at risk across areas (None = every area): per levy-paying provider with anything expiring within
    6 months, what expires within 3 and within 6 months; soonest first, then largest."""
    payers = _levy_payers(area_ids)
    entries, spends = _rows_for([pid for pid, _, _ in payers])
    this_month = first_of_month(today)
    rows = []
    for pid, name, area_name in payers:
        if not entries.get(pid):
            continue
        proj = project(entries[pid], spends.get(pid, []), today=today, months=LATER_MONTHS + 1)
        later = expiring_within(proj, today=today, months=LATER_MONTHS)
        if not later:
            continue
        first = next(m.month for m in proj.months if m.expired and m.month > this_month)
        rows.append(AtRisk(pid, name, area_name, expiring_within(proj, today=today, months=SOON_MONTHS), later,
                           first))
    rows.sort(key=lambda r: (r.next_month, -r.within_soon, -r.within_later, r.provider_name))
    return rows


# --- Reminders -----------------------------------------------------------------------------------------------


def _already_reminded(provider_ids: list[int]) -> set[tuple[int, str]]:
    if not provider_ids:
        return set()
    rows = db.session.execute(
        select(AuditEvent.object_id, AuditEvent.detail).where(
            AuditEvent.action == REMINDER_ACTION, AuditEvent.object_type == "organisation",
            AuditEvent.object_id.in_(provider_ids))
    )
    return {(pid, (detail or "")[:7]) for pid, detail in rows}


def _provider_users(provider_ids: list[int]) -> dict[int, list[User]]:
    users: dict[int, list[User]] = defaultdict(list)
    if provider_ids:
        for user in db.session.scalars(
            select(User).where(User.organisation_id.in_(provider_ids), User.role == Role.PROVIDER,
                               User.status == UserStatus.ACTIVE).order_by(User.id)
        ):
            users[user.organisation_id].append(user)
    return users


def send_reminders(*, now: datetime | None = None) -> int:
    """Mail each levy-paying provider's users when funds will expire within 3 months: once per provider and
    expiring month (recorded in the audit log). Commits once. Returns how many providers were mailed."""
    today = (now or utcnow()).date()
    this_month = first_of_month(today)
    with write_transaction():
        payers = _levy_payers(None)
        ids = [pid for pid, _, _ in payers]
        entries, spends = _rows_for(ids)
        sent = _already_reminded(ids)
        users = _provider_users(ids)
        mailed = 0
        providers = {o.id: o for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(ids or [-1])))}
        for pid, name, _area in payers:
            if not entries.get(pid) or not users.get(pid):
                continue
            proj = project(entries[pid], spends.get(pid, []), today=today, months=SOON_MONTHS + 1)
            due = [m for m in proj.months if this_month < m.month and m.expired
                   and (pid, m.month.isoformat()[:7]) not in sent]
            if not due:
                continue
            total = sum(m.expired for m in due)
            subject = f"Levy funds expiring: {pounds(total)} at {name}"
            for user in users[pid]:
                mail.queue_mail(
                    user.email, subject, "levy_expiring", name=user.name, provider_name=name,
                    months=[(month_label(m.month), pounds(m.expired)) for m in due], total=pounds(total),
                    account_url=mail.link("levy.account"),
                    place_url=mail.link("offers.create", type="levy_place"),
                    pledges_url=mail.link("pledges.index") if _has_endpoint("pledges.index") else None,
                )
            for m in due:
                audit.record(REMINDER_ACTION, target=providers[pid], area_id=providers[pid].area_id,
                             detail=f"{m.month.isoformat()[:7]}: {pounds(m.expired)} expiring; "
                                    f"{len(users[pid])} user(s) mailed")
            mailed += 1
        db.session.commit()
    return mailed


def _has_endpoint(endpoint: str) -> bool:
    from flask import current_app

    return endpoint in current_app.view_functions
