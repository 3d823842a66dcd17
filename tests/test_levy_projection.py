"""The levy projection against hand-worked cases (portal/services/levy_projection.py: pure, no app needed).

Rules under test: funds entered in month E can be spent until the end of month E+23 and what is left expires at
the start of month E+24; spends take the oldest funds first; within a month, expiry, then entry, then spends.
"""
from datetime import date

import pytest

from portal.services.levy_projection import Month, add_months, available_in, project, simulate

JAN_2025 = date(2025, 1, 1)


def d(year: int, month: int) -> date:
    return date(year, month, 1)


def by_month(projection) -> dict[date, Month]:
    return {row.month: row for row in projection.months}


def test_add_months_crosses_years():
    assert add_months(d(2025, 11), 2) == d(2026, 1)
    assert add_months(d(2025, 1), -1) == d(2024, 12)
    assert add_months(d(2025, 1), 24) == d(2027, 1)


def test_a_single_entry_expires_whole_24_months_after_entering():
    # £1,000 enters in January 2025; nothing is spent. It can be used until December 2026 and expires in
    # January 2027. Seen from January 2025 the 24-month horizon is Jan 2025..Dec 2026: nothing expires within it.
    p = project([(JAN_2025, 100_000)], [], today=date(2025, 1, 15))
    assert [row.month for row in p.months] == [add_months(JAN_2025, n) for n in range(24)]
    assert p.total_expiring == 0
    assert all(row.balance == 100_000 for row in p.months)
    assert [(t.entered_in, t.remaining, t.expires_in) for t in p.after] == [(JAN_2025, 100_000, d(2027, 1))]
    # Seen from June 2026, January 2027 is within the horizon: £1,000 expires then, the balance drops to £0.
    p = project([(JAN_2025, 100_000)], [], today=date(2026, 6, 3))
    rows = by_month(p)
    assert p.opening_balance == 100_000
    assert rows[d(2026, 12)] == Month(d(2026, 12), entered=0, spent=0, expired=0, balance=100_000)
    assert rows[d(2027, 1)] == Month(d(2027, 1), entered=0, spent=0, expired=100_000, balance=0)
    assert p.total_expiring == 100_000
    assert p.next_expiry().month == d(2027, 1)
    assert p.after == []


def test_fifo_spending_across_entries():
    # Jan 2025 £500, Feb 2025 £300, Mar 2025 £200. A spend of £600 in April takes all of January's £500 and
    # £100 of February's; a spend of £250 in May takes February's remaining £200 and £50 of March's.
    entries = [(d(2025, 1), 50_000), (d(2025, 2), 30_000), (d(2025, 3), 20_000)]
    spends = [(d(2025, 4), 60_000), (d(2025, 5), 25_000)]
    rows, after = simulate(entries, spends, until=d(2025, 5))
    assert [(r.entered, r.spent, r.balance) for r in rows] == [
        (50_000, 0, 50_000), (30_000, 0, 80_000), (20_000, 0, 100_000), (0, 60_000, 40_000), (0, 25_000, 15_000),
    ]
    assert [(t.entered_in, t.remaining) for t in after] == [(d(2025, 3), 15_000)]
    # So only March's £150 is left to expire, in March 2027; January's and February's expiries are zero.
    p = project(entries, spends, today=d(2026, 12))
    rows = by_month(p)
    assert rows[d(2027, 1)].expired == 0
    assert rows[d(2027, 2)].expired == 0
    assert rows[d(2027, 3)].expired == 15_000
    assert p.total_expiring == 15_000


def test_a_spend_straddling_an_expiry_uses_the_next_oldest_funds():
    # Jan 2025 £400 and Feb 2025 £300. In January 2027 January 2025's £400 expires (at the start of the month),
    # so a £350 spend in January 2027 cannot use it: it takes £300 from February 2025 and is £50 short.
    entries = [(d(2025, 1), 40_000), (d(2025, 2), 30_000)]
    rows, _ = simulate(entries, [(d(2027, 1), 35_000)], until=d(2027, 1))
    last = rows[-1]
    assert (last.expired, last.spent, last.shortfall, last.balance) == (40_000, 30_000, 5_000, 0)
    # A spend of £450 in December 2026, the month before, uses all of January's £400 and £50 of February's:
    # nothing expires in January 2027 and £250 expires in February 2027.
    p = project(entries, [(d(2026, 12), 45_000)], today=d(2026, 12))
    rows = by_month(p)
    assert rows[d(2026, 12)] == Month(d(2026, 12), entered=0, spent=45_000, expired=0, balance=25_000)
    assert rows[d(2027, 1)].expired == 0
    assert rows[d(2027, 2)] == Month(d(2027, 2), entered=0, spent=0, expired=25_000, balance=0)
    # A £200 spend in January 2027 straddles the expiry: January 2025's funds are gone, February's pay.
    p = project(entries, [(d(2027, 1), 20_000)], today=d(2027, 1))
    first = p.months[0]
    assert (first.expired, first.spent, first.balance, first.shortfall) == (40_000, 20_000, 10_000, 0)
    assert by_month(p)[d(2027, 2)].expired == 10_000


def test_nothing_expires_when_everything_is_spent():
    entries = [(d(2025, 1), 10_000), (d(2025, 6), 20_000)]
    spends = [(d(2025, 3), 10_000), (d(2026, 1), 5_000), (d(2026, 2), 15_000)]
    p = project(entries, spends, today=d(2025, 1), months=36)
    assert p.total_expiring == 0
    assert p.months[-1].balance == 0
    assert p.shortfalls == []
    assert p.after == []


def test_months_with_no_entries_carry_the_balance_and_appear_in_the_table():
    # Entries in January and April 2025 only: February and March are rows of zeros with the balance carried.
    p = project([(d(2025, 1), 1_000), (d(2025, 4), 2_000)], [], today=d(2025, 1), months=5)
    assert [(r.month, r.entered, r.spent, r.expired, r.balance) for r in p.months] == [
        (d(2025, 1), 1_000, 0, 0, 1_000),
        (d(2025, 2), 0, 0, 0, 1_000),
        (d(2025, 3), 0, 0, 0, 1_000),
        (d(2025, 4), 2_000, 0, 0, 3_000),
        (d(2025, 5), 0, 0, 0, 3_000),
    ]


def test_an_empty_account_projects_zeros():
    p = project([], [], today=date(2026, 11, 22))
    assert len(p.months) == 24
    assert p.months[0].month == d(2026, 11)
    assert all(r == Month(r.month, 0, 0, 0, 0) for r in p.months)
    assert p.opening_balance == 0 and p.history == []


def test_the_24_month_horizon_counts_from_todays_month():
    # Monthly entries of £100 from Jan 2024 to Nov 2026, nothing spent. Seen on 22 November 2026, the table runs
    # November 2026 .. October 2028; each month from November 2026 on, the funds of 24 months earlier expire:
    # Nov 2024's £100 in November 2026, ..., Nov 2026's in November 2028 (beyond the horizon).
    entries = [(add_months(d(2024, 1), n), 10_000) for n in range(35)]
    p = project(entries, [], today=date(2026, 11, 22))
    assert len(p.months) == 24
    assert p.months[0].month == d(2026, 11) and p.months[-1].month == d(2028, 10)
    # Opening balance: the 24 months Nov 2024..Oct 2026 are still live (Jan..Oct 2024 expired earlier).
    assert p.opening_balance == 24 * 10_000
    assert sum(r.expired for r in p.history) == 10 * 10_000  # Jan..Oct 2024 expired Jan..Oct 2026
    # Nov 2026: Nov 2024's £100 expires, Nov 2026's £100 enters: balance unchanged.
    assert p.months[0] == Month(d(2026, 11), entered=10_000, spent=0, expired=10_000, balance=24 * 10_000)
    # Then one month expires each month and none enters, until all but November 2026's entry is gone.
    assert [r.expired for r in p.months[1:]] == [10_000] * 23
    assert p.months[-1].balance == 10_000
    assert [(t.entered_in, t.expires_in) for t in p.after] == [(d(2026, 11), d(2028, 11))]
    assert p.expiring_between(d(2026, 12), d(2027, 2)) == 3 * 10_000


def test_several_spends_in_a_month_add_up_and_future_spends_count():
    entries = [(d(2025, 1), 10_000)]
    spends = [(d(2025, 2), 3_000), (d(2025, 2), 2_000), (d(2025, 6), 1_000)]
    p = project(entries, spends, today=d(2025, 1), months=6)
    assert [r.spent for r in p.months] == [0, 5_000, 0, 0, 0, 1_000]
    assert p.months[-1].balance == 4_000
    assert available_in(entries, spends, month=d(2025, 2)) == 5_000


def test_a_spend_larger_than_the_balance_shows_a_shortfall():
    rows, _ = simulate([(d(2025, 1), 1_000)], [(d(2025, 1), 1_500)], until=d(2025, 1))
    assert (rows[0].spent, rows[0].shortfall, rows[0].balance) == (1_000, 500, 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        project([(d(2025, 1), -1)], [], today=d(2025, 1))
    with pytest.raises(ValueError):
        project([], [], today=d(2025, 1), months=0)
