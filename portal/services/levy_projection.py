"""The levy account's arithmetic, month by month: a pure function over plain data (no Flask, no database).

The rules (the apprenticeship service's, as the portal applies them):
- funds that enter in month E can be spent in months E to E+23; whatever is left of them expires at the start of
  month E+24 ("expires that month"), before that month's spends;
- spends use the oldest funds first (first in, first out), so a spend never uses funds that have expired: once
  the oldest funds have gone, the next oldest pay;
- within a month: first what expires, then what enters, then what is spent.

`simulate` replays every month from the first entry or spend; `project` returns the months from today's month
on. A spend larger than the funds available in its month is reported as a shortfall (the service refuses to
record one).
"""
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

EXPIRY_MONTHS = 24  # the same as portal.models.levy.LEVY_EXPIRY_MONTHS (kept here so this module imports nothing)


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_from_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def add_months(month: date, n: int) -> date:
    """The first of the month `n` months after `month` (before it if `n` is negative)."""
    return month_from_index(month_index(month) + n)


@dataclass(frozen=True)
class Month:
    """One month of the account. `balance` is what is left at the end of the month."""

    month: date
    entered: int
    spent: int
    expired: int
    balance: int
    shortfall: int = 0  # spends this month that no funds could cover (refused when recording)


@dataclass(frozen=True)
class Tranche:
    """What is left of the funds that entered in one month, and when it expires."""

    entered_in: date
    remaining: int

    @property
    def expires_in(self) -> date:
        return add_months(self.entered_in, EXPIRY_MONTHS)


@dataclass
class Projection:
    months: list[Month]  # the projected months, from today's month on
    opening_balance: int  # the balance at the end of the month before the first projected month
    history: list[Month] = field(default_factory=list)  # the months before today's month
    after: list[Tranche] = field(default_factory=list)  # funds still there after the last projected month

    @property
    def total_expiring(self) -> int:
        return sum(month.expired for month in self.months)

    def expiring_between(self, first: date, last: date) -> int:
        """What expires in the months from `first` to `last` (inclusive)."""
        return sum(month.expired for month in self.months if first <= month.month <= last)

    def next_expiry(self) -> Month | None:
        return next((month for month in self.months if month.expired), None)

    @property
    def shortfalls(self) -> list[Month]:
        return [month for month in [*self.history, *self.months] if month.shortfall]


def _totals(rows: Iterable[tuple[date, int]]) -> dict[int, int]:
    totals: dict[int, int] = {}
    for month, amount in rows:
        if amount < 0:
            raise ValueError("amounts are never negative")
        key = month_index(month)
        totals[key] = totals.get(key, 0) + amount
    return totals


def simulate(entries: Iterable[tuple[date, int]], spends: Iterable[tuple[date, int]], *, until: date,
             since: date | None = None) -> tuple[list[Month], list[Tranche]]:
    """Every month from the first entry or spend (or `since`, if earlier) to `until`'s month, and the tranches
    left at the end."""
    entered = _totals(entries)
    spent = _totals(spends)
    last = month_index(until)
    first = min([*entered, *spent, last, *([month_index(since)] if since else [])])
    tranches: deque[list[int]] = deque()  # [entry month index, remaining], oldest first
    rows: list[Month] = []
    for index in range(first, last + 1):
        expired = 0
        while tranches and tranches[0][0] + EXPIRY_MONTHS <= index:
            expired += tranches.popleft()[1]
        entering = entered.get(index, 0)
        if entering:
            tranches.append([index, entering])
        wanted = spent.get(index, 0)
        to_pay = wanted
        while to_pay and tranches:
            oldest = tranches[0]
            used = min(oldest[1], to_pay)
            oldest[1] -= used
            to_pay -= used
            if not oldest[1]:
                tranches.popleft()
        rows.append(Month(month=month_from_index(index), entered=entering, spent=wanted - to_pay, expired=expired,
                          balance=sum(remaining for _, remaining in tranches), shortfall=to_pay))
    return rows, [Tranche(month_from_index(index), remaining) for index, remaining in tranches]


def project(entries: Iterable[tuple[date, int]], spends: Iterable[tuple[date, int]], *, today: date,
            months: int = EXPIRY_MONTHS) -> Projection:
    """The account month by month for `months` months from `today`'s month: funds entering, spent (oldest first),
    expiring (what entered 24 months earlier and was not spent) and the balance at the end of each month.

    `entries` and `spends` are (month, pence) pairs; any day of the month will do. Recorded spends in future
    months are taken into account; no future entries are assumed unless given."""
    if months < 1:
        raise ValueError("project at least one month")
    start = month_index(today)
    rows, after = simulate(entries, spends, until=month_from_index(start + months - 1), since=today)
    history = [row for row in rows if month_index(row.month) < start]
    future = [row for row in rows if month_index(row.month) >= start]
    opening = history[-1].balance if history else 0
    return Projection(months=future, opening_balance=opening, history=history, after=after)


def available_in(entries: Iterable[tuple[date, int]], spends: Iterable[tuple[date, int]], *, month: date) -> int:
    """What could still be spent in `month` after its recorded spends (its balance at the end of the month)."""
    rows, _ = simulate(entries, spends, until=month)
    return rows[-1].balance if rows else 0
