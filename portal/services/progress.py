"""Progress toward four: the careers lead's school, the coordinator's area, a provider's impact (issue 4/6).

Every figure here is an aggregate (GROUP BY) over the totals that services/counting.py keeps on Pupil and
PupilYearCount, or over the register entries it marks, or (the coordinator's overview) a read of the per-school
totals it keeps in SchoolTotal and SchoolYearTotal: a page issues a fixed number of queries whatever the number of
pupils. The counting rules (target, buckets, Benchmark 5, who to send, academic years) are asked of counting.py.

Privacy: provider_impact returns counts only; area_overview returns per-school figures, never pupil rows.
"""
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from sqlalchemy import and_, case, func, select

from portal.extensions import db
from portal.models import (
    Area,
    Match,
    Offer,
    Organisation,
    OrgKind,
    Pupil,
    PupilStatus,
    PupilYearCount,
    RegisterEntry,
    SchoolTotal,
    SchoolYearTotal,
    SessionRecord,
)
from portal.services import counting, destinations
from portal.services.sql_lists import in_list
from portal.vocab import year_label

PER_PAGE = 50
FIRST_CHOOSABLE_YEAR = 2015


def year_choices(today: date) -> list[tuple[int, str]]:
    """The academic years a page's chooser offers: this one and the five before it, newest first."""
    current = counting.current_academic_year(today)
    return [(year, counting.academic_year_label(year)) for year in range(current, current - 6, -1)]


def chosen_year(value, today: date) -> int:
    """The academic year from a query string, or this one when absent or out of range (never an error page)."""
    current = counting.current_academic_year(today)
    try:
        year = int(value)
    except (TypeError, ValueError):
        return current
    return year if FIRST_CHOOSABLE_YEAR <= year <= current else current


def _bucket_expr(area: Area):
    """A pupil's progress bucket: their cumulative contacts, capped at the area's target (the "target+" bucket)."""
    top = counting.target(area)
    return case((Pupil.contacts >= top, top), else_=Pupil.contacts)


def pct(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None


# --- the careers lead's school -------------------------------------------------------------------------------------

@dataclass
class YearGroupProgress:
    year_group: int
    label: str
    counts: list[int]  # pupils per bucket (0, 1, …, target+)
    total: int = 0
    b5_met: int = 0

    @property
    def b5_not_met(self) -> int:
        return self.total - self.b5_met

    @property
    def b5_pct(self) -> int | None:
        return pct(self.b5_met, self.total)

    @property
    def at_target(self) -> int:
        return self.counts[-1]


@dataclass
class SchoolProgress:
    school: Organisation
    area: Area
    year: int
    year_label: str
    is_current_year: bool
    target: int
    bucket_labels: list[str]
    b5_required: int
    rows: list[YearGroupProgress]
    totals: YearGroupProgress
    below_target: int

    @property
    def largest(self) -> int:
        """The biggest bar, to scale the chart."""
        return max([n for row in self.rows for n in row.counts] or [0])

    @property
    def everyone_at_target(self) -> bool:
        """Pupils are on roll and none is below the target (a school with no pupils has not got everyone there)."""
        return self.totals.total > 0 and self.below_target == 0


def school_progress(school: Organisation, *, today: date, year: int | None = None) -> SchoolProgress:
    """Pupils on roll per year group at each bucket toward the target, and Benchmark 5 for the academic year.

    The pupils and their year groups are those of `year` (this academic year by default; counting.roll_in_year):
    a past year counts who was on roll then, in their year group then. Buckets are cumulative contacts to date;
    Benchmark 5 is for `year`. Two grouped queries, whatever the number of pupils.
    """
    area = school.area
    current = counting.current_academic_year(today)
    year = current if year is None else year
    buckets = counting.buckets(area)
    bucket = _bucket_expr(area)
    rows: dict[int, YearGroupProgress] = {}

    def row_for(year_group: int) -> YearGroupProgress:
        if year_group not in rows:
            rows[year_group] = YearGroupProgress(year_group, year_label(year_group), [0] * len(buckets))
        return rows[year_group]

    on_roll, year_group_then = counting.roll_in_year(school, year, today=today)
    for year_group, bucket_no, n in db.session.execute(
        select(year_group_then, bucket, func.count()).where(*on_roll).group_by(year_group_then, bucket)
    ):
        row = row_for(year_group)
        row.counts[bucket_no] += n
        row.total += n
    # The pupil's contacts this year as a subquery per pupil, not a join: PostgreSQL planned the join as a hash of
    # every school's counts for the year (27,000 index entries at region scale) where probing the index for each of
    # the school's pupils is cheaper: 2.3 -> 1.6 ms on PostgreSQL, 0.41 -> 0.51 ms on SQLite (bench/README.md).
    this_year = (select(PupilYearCount.contacts)
                 .where(PupilYearCount.pupil_id == Pupil.id, PupilYearCount.academic_year == year)
                 .scalar_subquery())
    for year_group, n in db.session.execute(
        select(year_group_then, func.count())
        .where(*on_roll, counting.benchmark5_met_sql(this_year, school))
        .group_by(year_group_then)
    ):
        row_for(year_group).b5_met += n
    ordered = [rows[y] for y in sorted(rows)]
    totals = YearGroupProgress(-1, "All year groups", [sum(r.counts[i] for r in ordered) for i in range(len(buckets))],
                               sum(r.total for r in ordered), sum(r.b5_met for r in ordered))
    return SchoolProgress(
        school=school, area=area, year=year, year_label=counting.academic_year_label(year),
        is_current_year=year == current, target=counting.target(area),
        bucket_labels=[counting.bucket_label(b, area) for b in buckets],
        b5_required=counting.benchmark5_required(school),
        rows=ordered, totals=totals, below_target=totals.total - totals.at_target,
    )


def below_target_query(school: Organisation):
    """The school's pupils on roll below the area's target, in "who to send" order (a select to paginate)."""
    return (select(Pupil)
            .where(Pupil.school_id == school.id, Pupil.status == PupilStatus.ON_ROLL,
                   Pupil.contacts < counting.target(school.area))
            .order_by(*counting.who_to_send_order()))


def year_contacts(pupil_ids: list[int], year: int) -> dict[int, int]:
    """Contacts in one academic year for a page of pupils (one query; the ids as one list parameter, sql_lists.py:
    a page of 50 as an IN list was 51 parameters, past what psycopg caches the conversion of)."""
    if not pupil_ids:
        return {}
    return dict(db.session.execute(
        select(PupilYearCount.pupil_id, PupilYearCount.contacts)
        .where(PupilYearCount.academic_year == year, in_list(PupilYearCount.pupil_id, "pupil_ids")),
        {"pupil_ids": pupil_ids},
    ).all())


# --- the coordinator's area ----------------------------------------------------------------------------------------

class SchoolRef(NamedTuple):
    """What the overview shows of a school: its id and name (not the whole row, for each of a region's schools)."""
    id: int
    name: str


@dataclass
class SchoolSummary:
    school: SchoolRef | None
    on_roll: int = 0
    at_target_by_year: dict[int, int] = field(default_factory=dict)
    on_roll_by_year: dict[int, int] = field(default_factory=dict)
    # (at the target, on roll) for each of the overview's year groups, in order: the table's cells
    year_cells: list[tuple[int, int]] = field(default_factory=list)
    at_target: int = 0
    b5_met: int = 0
    at_risk: int = 0
    at_risk_at_target: int = 0
    providers: int = 0
    not_known: int = 0
    leavers: int = 0
    # A primary school: the secondary target and Benchmark 5 do not apply (product.md "Primary schools"); the
    # overview shows it as counted apart, under primary reach, rather than a row of zeros.
    primary: bool = False

    @property
    def b5_pct(self) -> int | None:
        return pct(self.b5_met, self.on_roll)

    @property
    def at_risk_pct(self) -> int | None:
        return pct(self.at_risk_at_target, self.at_risk)

    @property
    def many_not_known(self) -> bool:
        return destinations.many_not_known(self.not_known, self.leavers)


@dataclass
class AreaOverview:
    area: Area
    year: int
    year_label: str
    target: int
    target_label: str
    year_groups: list[int]
    year_group_labels: dict[int, str]
    schools: list[SchoolSummary]

    @property
    def has_primary(self) -> bool:
        return any(s.primary for s in self.schools)

    @property
    def totals(self) -> SchoolSummary:
        total = SchoolSummary(school=None)
        for s in self.schools:
            total.on_roll += s.on_roll
            total.at_target += s.at_target
            total.b5_met += s.b5_met
            total.at_risk += s.at_risk
            total.at_risk_at_target += s.at_risk_at_target
            total.not_known += s.not_known
            total.leavers += s.leavers
            for y, n in s.at_target_by_year.items():
                total.at_target_by_year[y] = total.at_target_by_year.get(y, 0) + n
            for y, n in s.on_roll_by_year.items():
                total.on_roll_by_year[y] = total.on_roll_by_year.get(y, 0) + n
        total.year_cells = _year_cells(total, self.year_groups)
        return total


def _year_cells(summary: SchoolSummary, year_groups: list[int]) -> list[tuple[int, int]]:
    return [(summary.at_target_by_year.get(y, 0), summary.on_roll_by_year.get(y, 0)) for y in year_groups]


def area_overview(area: Area, *, today: date, year: int | None = None) -> AreaOverview:
    """Per school of the area: pupils at the target or more by year group, Benchmark 5, the at-risk cohort's
    progress, providers engaged in the academic year and leavers' not-knowns.

    Reads the per-school totals counting.py keeps (SchoolTotal, SchoolYearTotal) instead of aggregating
    every pupil of the area: four queries, whatever the number of pupils and register entries."""
    current = counting.current_academic_year(today)
    year = current if year is None else year
    top = counting.target(area)
    of_area = (Organisation.area_id == area.id, Organisation.kind == OrgKind.SCHOOL)
    schools = db.session.execute(
        select(Organisation.id, Organisation.name, Organisation.phase).where(*of_area)
        .order_by(Organisation.name, Organisation.id)
    ).all()
    by_id = {school_id: SchoolSummary(SchoolRef(school_id, name), primary=not counting.target_applies(phase))
             for school_id, name, phase in schools}
    # The later reads name the schools by this subquery, not by a list of a region's 85 ids: one short statement
    # text, which SQLAlchemy renders without a parameter per school and psycopg can prepare (bench/README.md,
    # session 19). A school added between the reads is left out of this overview (`by_id.get`).
    ids = select(Organisation.id).where(*of_area)
    year_groups: set[int] = set()
    for school_id, year_group, n, n_target, n_risk, n_risk_target in db.session.execute(
        select(SchoolTotal.school_id, SchoolTotal.year_group, SchoolTotal.pupils, SchoolTotal.at_target,
               SchoolTotal.at_risk, SchoolTotal.at_risk_at_target)
        .where(SchoolTotal.school_id.in_(ids), SchoolTotal.pupils > 0)
    ):
        s = by_id.get(school_id)
        if s is None or s.primary:
            continue
        year_groups.add(year_group)
        s.on_roll += n
        s.on_roll_by_year[year_group] = n
        s.at_target_by_year[year_group] = n_target
        s.at_target += n_target
        s.at_risk += n_risk
        s.at_risk_at_target += n_risk_target
    for school_id, b5_met, providers in db.session.execute(
        select(SchoolYearTotal.school_id, SchoolYearTotal.b5_met, SchoolYearTotal.providers)
        .where(SchoolYearTotal.school_id.in_(ids), SchoolYearTotal.academic_year == year)
    ):
        if (s := by_id.get(school_id)) is not None:
            s.b5_met, s.providers = b5_met, providers
    for school_id, leavers, not_known in db.session.execute(destinations.not_known_by_school(ids, today=today)):
        if (s := by_id.get(school_id)) is not None:
            s.leavers, s.not_known = leavers, int(not_known or 0)
    ordered_groups = sorted(year_groups)
    for summary in by_id.values():
        summary.year_cells = _year_cells(summary, ordered_groups)
    return AreaOverview(
        area=area, year=year, year_label=counting.academic_year_label(year), target=top,
        target_label=counting.bucket_label(top, area), year_groups=ordered_groups,
        year_group_labels={y: year_label(y) for y in year_groups}, schools=list(by_id.values()),
    )


# --- a provider's impact --------------------------------------------------------------------------------------------

@dataclass
class OfferImpact:
    offer_id: int
    title: str
    sessions: int
    pupils: int


@dataclass
class ProviderImpact:
    year: int
    year_label: str
    sessions: int
    schools: int
    pupils_reached: int
    first_contacts: int
    offers: list[OfferImpact]


def provider_impact(provider: Organisation, *, today: date, year: int | None = None) -> ProviderImpact:
    """The impact of a provider's own offers in an academic year: counts only, never pupil rows.

    Sessions held (a session record on a match of its offers), schools and pupils reached (attended), and pupils
    for whom a session with this provider was their first counted contact ever.
    """
    year = counting.current_academic_year(today) if year is None else year
    start, end = counting.academic_year_bounds(year)
    sessions = db.session.scalar(
        select(func.count()).select_from(SessionRecord)
        .join(Match, Match.id == SessionRecord.match_id).join(Offer, Offer.id == Match.offer_id)
        .where(Offer.provider_id == provider.id, SessionRecord.held_on.between(start, end))
    ) or 0
    attended = (RegisterEntry.provider_id == provider.id, RegisterEntry.academic_year == year,
                RegisterEntry.attended.is_(True))
    schools, pupils = db.session.execute(
        select(func.count(func.distinct(RegisterEntry.school_id)), func.count(func.distinct(RegisterEntry.pupil_id)))
        .where(*attended)
    ).one()
    mine = select(RegisterEntry.pupil_id).where(RegisterEntry.provider_id == provider.id,
                                                 RegisterEntry.academic_year == year, RegisterEntry.counted)
    first = (select(RegisterEntry.pupil_id, func.min(RegisterEntry.held_on).label("first_on"))
             .where(RegisterEntry.counted, RegisterEntry.pupil_id.in_(mine))
             .group_by(RegisterEntry.pupil_id).subquery())
    first_contacts = db.session.scalar(
        select(func.count(func.distinct(RegisterEntry.pupil_id)))
        .join(first, and_(first.c.pupil_id == RegisterEntry.pupil_id, first.c.first_on == RegisterEntry.held_on))
        .where(RegisterEntry.provider_id == provider.id, RegisterEntry.academic_year == year, RegisterEntry.counted)
    ) or 0
    offers = [
        OfferImpact(offer_id, title, n_sessions, n_pupils)
        for offer_id, title, n_sessions, n_pupils in db.session.execute(
            select(Offer.id, Offer.title, func.count(func.distinct(RegisterEntry.match_id)),
                   func.count(func.distinct(RegisterEntry.pupil_id)))
            .join(Match, Match.id == RegisterEntry.match_id).join(Offer, Offer.id == Match.offer_id)
            .where(*attended)
            .group_by(Offer.id, Offer.title).order_by(Offer.title, Offer.id)
        )
    ]
    return ProviderImpact(year=year, year_label=counting.academic_year_label(year), sessions=sessions,
                          schools=schools or 0, pupils_reached=pupils or 0, first_contacts=first_contacts,
                          offers=offers)


def areas_for(visible: set[int] | None) -> list[Area]:
    """The areas a user may see progress for (`visible` from policy.visible_area_ids; None is every area)."""
    query = select(Area).order_by(Area.name)
    if visible is not None:
        query = query.where(Area.id.in_(visible or [-1]))
    return list(db.session.scalars(query))


# --- the chart (presentation geometry for an inline SVG; the data table beside it is the same numbers) -------------

CHART_WIDTH = 640
CHART_LABEL_WIDTH = 110
CHART_BAR_HEIGHT = 26
CHART_GAP = 10


@dataclass
class ChartSegment:
    x: float
    width: float
    css: str
    title: str


@dataclass
class ChartRow:
    label: str
    y: int
    text_y: int
    total: int
    segments: list[ChartSegment]


@dataclass
class Chart:
    width: int
    height: int
    label_width: int
    bar_height: int
    rows: list[ChartRow]
    legend: list[tuple[str, str]]  # (css class, label)


def bucket_css(bucket: int, buckets: int) -> str:
    if bucket == buckets - 1:
        return "chart-target"
    return "chart-zero" if bucket == 0 else f"chart-step-{(bucket - 1) % 3}"


def chart(summary: SchoolProgress) -> Chart:
    """A stacked bar per year group: the share of its pupils at each bucket, the target+ bucket last."""
    n = len(summary.bucket_labels)
    span = CHART_WIDTH - CHART_LABEL_WIDTH - 10
    rows = []
    for i, row in enumerate(summary.rows):
        y = i * (CHART_BAR_HEIGHT + CHART_GAP)
        x = float(CHART_LABEL_WIDTH)
        segments = []
        for bucket, count in enumerate(row.counts):
            if not count:
                continue
            width = span * count / row.total
            segments.append(ChartSegment(round(x, 1), round(width, 1), bucket_css(bucket, n),
                                         f"{row.label}: {count} at {summary.bucket_labels[bucket]}"))
            x += width
        rows.append(ChartRow(row.label, y, y + CHART_BAR_HEIGHT // 2 + 5, row.total, segments))
    height = max(len(rows) * (CHART_BAR_HEIGHT + CHART_GAP), CHART_BAR_HEIGHT)
    legend = [(bucket_css(b, n), summary.bucket_labels[b]) for b in range(n)]
    return Chart(CHART_WIDTH, height, CHART_LABEL_WIDTH, CHART_BAR_HEIGHT, rows, legend)
