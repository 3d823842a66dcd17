"""Reasons in plain words: why the engine proposed a pairing, and why a request was not (fully) placed.

The engine works out the facts (miles, shares, counts) and hands them over — for a proposal as parts worded once
per request and per sector (request_reasons, sector_reason, pairs_reasons), for a request not placed as a small
dataclass (Funnel); this module only turns facts into words, so the wording can change without touching the
solver.
"""
import functools
from dataclasses import dataclass
from datetime import date

from portal.matching.model import NEED_NO_CONTACTS

SEPARATOR = " · "

DELIVERY_WORDS = {"in_school": "in school", "workplace": "at the workplace", "virtual": "virtually"}

SECTOR_ASKED, SECTOR_ANY, SECTOR_OTHER = "asked", "any", "other"


@functools.lru_cache(maxsize=4096)
def years_text(mask: int) -> str:
    """'Years 9–10', 'Year 7', 'Reception, Years 1–2', 'Years 7, 9 and 11' (as portal.models.year_groups)."""
    years = [year for year in range(15) if mask & (1 << year)]
    if not years:
        return "no year groups"
    runs: list[list[int]] = []
    for year in years:
        if runs and year == runs[-1][-1] + 1:
            runs[-1].append(year)
        else:
            runs.append([year])
    parts = []
    for run in runs:
        if run[0] == 0:
            parts.append("Reception")
            run = run[1:]
            if not run:
                continue
        parts.append(f"Year {run[0]}" if len(run) == 1 else f"Years {run[0]}–{run[-1]}")
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def dates_text(starts_on: date, ends_on: date) -> str:
    """'3 Mar – 28 Mar 2025', or with both years when they differ."""
    if starts_on.year == ends_on.year:
        return f"{starts_on.day} {starts_on:%b} – {ends_on.day} {ends_on:%b} {ends_on.year}"
    return f"{starts_on.day} {starts_on:%b} {starts_on.year} – {ends_on.day} {ends_on:%b} {ends_on.year}"


def words_or(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _miles(miles: float) -> str:
    return f"{miles:g} mile" if miles == 1 else f"{miles:g} miles"


def _percent(share: float) -> str:
    return f"{round(share * 100)}%"


# --- proposals -------------------------------------------------------------------------------------------------

# A proposal's reasons in parts, for the many pairings of a run: what depends on the request alone and on the
# offer's sector alone is worded once (request_reasons, sector_reason), and pairs_reasons puts each pairing's
# reasons together from those parts.

def sector_reason(sector_label: str, sector_fit: str) -> str:
    if sector_fit == SECTOR_ASKED:
        return f"{sector_label}, a sector the school asked for"
    if sector_fit == SECTOR_ANY:
        return f"{sector_label} (the school asked for any sector)"
    return f"{sector_label}, not one of the sectors the school asked for"


def request_reasons(request_years: int, below_share: float | None, at_risk_share: float | None, need_basis: str,
                    waited_days: int, target_text: str) -> tuple[str, ...]:
    """What depends on the request alone: its school's need in those year groups, and how long it has waited."""
    reasons = []
    if below_share is None:
        reasons.append(f"no year-group figures from the school for {years_text(request_years)}")
    else:
        have = ("have no recorded contact yet" if need_basis == NEED_NO_CONTACTS
                else f"have fewer than {target_text} contacts")
        reasons.append(f"{_percent(below_share)} of the school's {years_text(request_years)} {have}")
        if at_risk_share:
            reasons.append(f"{_percent(at_risk_share)} at risk of NEET")
    if waited_days <= 0:
        reasons.append("asked today")
    else:
        reasons.append(f"waiting {waited_days} day" + ("" if waited_days == 1 else "s"))
    return tuple(reasons)


def pairs_reasons(sectors: list[str], deliveries: list[str], miles: list[float | None], years_eligible: list[int],
                  requests: list[tuple[str, ...]], repeat_matches: list[int], allocations: list[int],
                  needed: list[int]) -> list[tuple[str, ...]]:
    """Each pairing's reasons, from parallel lists: its sector_reason, delivery, miles (None: virtual or not
    known), the year groups eligible (a mask), its request_reasons, its live or recent matches with the
    provider, and its allocation of what the request needed."""
    out = []
    eligible_words = {}
    for sector, delivery, distance, eligible, request, repeat, allocation, wanted in zip(
            sectors, deliveries, miles, years_eligible, requests, repeat_matches, allocations, needed, strict=True):
        if delivery == "virtual":
            where = "virtual"
        elif distance is None:
            where = f"{DELIVERY_WORDS[delivery]}, distance not known"
        elif delivery == "in_school":
            where = f"{distance:.1f} miles"
        else:
            where = f"{distance:.1f} miles, at the workplace"
        years = eligible_words.get(eligible)
        if years is None:
            years = eligible_words[eligible] = f"{years_text(eligible)} eligible"
        reasons = (sector, where, years, *request)
        if repeat:
            reasons += (f"already {repeat} live or recent {'match' if repeat == 1 else 'matches'} with this provider",)
        if allocation < wanted:
            reasons += (f"{allocation} of the {wanted} asked for",)
        out.append(reasons)
    return out


# --- requests not (fully) placed -------------------------------------------------------------------------------

# What happened to a request whose suitable offers had room before the run but could not give it (more).
AFTER_TAKEN = "taken"  # every suitable offer was filled by other requests
AFTER_SCHOOL_SHARE = "school_share"  # the rest is the school's per-offer share, used by its other requests
AFTER_BUSY = "busy"  # room left only with providers past their load limit (or worth less than the penalty)
AFTER_NOT_WHOLE = "not_whole"  # keep-together: no single offer had room for the whole group


@dataclass(slots=True)
class Funnel:
    """How many offers survive each hard rule in turn, for one request."""

    type_labels: tuple[str, ...]
    deliveries: tuple[str, ...]
    request_years: int
    starts_on: date
    ends_on: date
    today: date
    max_travel_miles: float | None
    school_located: bool
    of_type: int
    delivered: int
    in_reach: int
    in_years: int
    in_dates: int
    with_room: int
    with_school_room: int
    unpaired: int  # of those, offers the request is not already matched with
    worth_it: int
    needed: int
    placed: int
    after: str | None  # AFTER_* when suitable offers existed


def unmatched_reasons(f: Funnel) -> tuple[str, ...]:
    reasons = []
    if f.placed:
        reasons.append(f"{f.placed} of {f.needed} placed")
    types = words_or(list(f.type_labels)) or "the wanted"
    if f.of_type == 0:
        reasons.append(f"no offer of that type ({types}) in the area or open to all areas")
    elif f.delivered == 0:
        ways = words_or([DELIVERY_WORDS.get(d, d) for d in f.deliveries]) or "in any accepted way"
        reasons.append(f"no {types} offer delivered {ways}")
    elif f.in_reach == 0:
        if not f.school_located:
            reasons.append("none within reach: the school has no location, so distances cannot be measured")
        elif f.max_travel_miles is not None:
            reasons.append(f"none within its distance: pupils travel up to {_miles(f.max_travel_miles)}, "
                           "and providers set how far they go")
        else:
            reasons.append("none within the providers' travelling distances")
    elif f.in_years == 0:
        reasons.append(f"year groups not served: no {types} offer within reach is for {years_text(f.request_years)}")
    elif f.in_dates == 0:
        if f.ends_on < f.today:
            reasons.append(f"its dates have passed ({dates_text(f.starts_on, f.ends_on)})")
        else:
            reasons.append(f"none in those dates ({dates_text(f.starts_on, f.ends_on)})")
    elif f.with_room == 0:
        reasons.append("every suitable offer is already full")
    elif f.with_school_room == 0:
        reasons.append("the school already holds the most each suitable offer gives one school")
    elif f.unpaired == 0:
        reasons.append("already matched with each suitable offer that has room: how many that match takes is a "
                       "coordinator's decision")
    elif f.worth_it == 0:
        reasons.append("no suitable offer scored above zero: the school has had the same providers recently")
    elif f.after == AFTER_NOT_WHOLE:
        reasons.append(f"could not be kept together: no single suitable offer had room for the whole group "
                       f"of {f.needed}")
    elif f.after == AFTER_TAKEN:
        reasons.append("capacity taken by other schools" if not f.placed
                       else "capacity taken: every suitable offer is now full")
    elif f.after == AFTER_SCHOOL_SHARE:
        reasons.append("the school already has the most one school may have of each suitable offer with room")
    else:
        reasons.append("the providers with room left already have as many pupils as the load limit allows")
    return tuple(reasons)
