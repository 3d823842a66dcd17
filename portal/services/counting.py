"""Counting toward four: the one owner of the counting rules (product.md, "Counting toward four").

Every page and report asks this module; none counts for itself.

- A contact is a pupil's attendance at a delivered session of a type that counts toward the target
  (catalogue.OfferType.counts_toward_target) that the careers lead recorded as meaningful (all four Gatsby
  criteria). Attendance at a non-meaningful session is shown, not counted.
- Counts are kept per academic year (1 September – 31 August, named by the year it starts in) and
  cumulatively from Year 7: sessions attended in a primary year group (Reception–Year 6) are not counted
  toward the secondary target.
- Target: the area's contact_target (default 4). With the area's "distinct providers" setting, repeat
  contacts with one provider count once (cumulatively once overall; in a year once that year).
- Benchmark 5: at least one contact this academic year; two for a college's students.

The totals on Pupil (contacts, last_contact_on) and PupilYearCount are kept here from the register entries,
whenever a register is recorded or corrected, or an area's rules change.
"""
from datetime import date

from portal.models import Area, Organisation, Pupil

FIRST_COUNTED_YEAR = 7  # counting toward the target starts in Year 7
COLLEGE_PHASE = "college"


def academic_year(on: date) -> int:
    """The academic year a date falls in, named by the calendar year it starts in: 2025-09-01 → 2025."""
    return on.year if on.month >= 9 else on.year - 1


def current_academic_year(today: date | None = None) -> int:
    return academic_year(today or date.today())


def academic_year_label(year: int) -> str:
    """2025 → '2025/26'."""
    return f"{year}/{(year + 1) % 100:02d}"


def academic_year_bounds(year: int) -> tuple[date, date]:
    return date(year, 9, 1), date(year + 1, 8, 31)


def benchmark5_required(school: Organisation) -> int:
    """Meaningful encounters a pupil needs this academic year for Benchmark 5: two in colleges, else one."""
    return 2 if school.phase == COLLEGE_PHASE else 1


def target(area: Area) -> int:
    return area.contact_target


def buckets(area: Area) -> list[int]:
    """The progress buckets for an area: 0, 1, …, target − 1 and then target-or-more (the last one)."""
    return list(range(target(area) + 1))


def bucket_label(bucket: int, area: Area) -> str:
    return f"{bucket}+" if bucket >= target(area) else str(bucket)


def who_to_send_order():
    """'Who to send' (product.md): furthest from the target first, at-risk and disadvantaged pupils before
    others, then the longest since their last contact (never contacted first); the reference breaks ties so
    the order is stable. An ORDER BY for a select over Pupil."""
    return (Pupil.contacts.asc(), Pupil.at_risk.desc(), Pupil.disadvantaged.desc(),
            Pupil.last_contact_on.is_(None).desc(), Pupil.last_contact_on.asc(), Pupil.reference.asc())
