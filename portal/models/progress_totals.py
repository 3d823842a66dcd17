"""Per-school totals for the coordinator's area overview (issue 4/6), kept by services/counting.py.

The overview shows, for every school of an area, figures that would otherwise aggregate every pupil of the region
on every request. These small tables hold them per school, so the overview reads a few rows per school:

- SchoolTotal: per school and year group, the pupils on roll now, those at the area's target or more, the
  at-risk cohort and those of it at the target;
- SchoolYearTotal: per school and academic year, the pupils on roll now whose contacts that year meet
  Benchmark 5, and the providers engaged (a pupil of the school attended one of their sessions that year).

Both are derived data: counting.refresh_schools recomputes a school's rows from Pupil, PupilYearCount and the
register entries, in the same transaction as whatever changed them. A missing row means zero.
"""
from sqlalchemy import CheckConstraint, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class SchoolTotal(db.Model):
    __tablename__ = "school_totals"
    __table_args__ = (
        CheckConstraint("at_target <= pupils AND at_risk <= pupils AND at_risk_at_target <= at_risk "
                        "AND at_risk_at_target <= at_target AND at_risk_at_target >= 0", name="counts_consistent"),
    )

    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    year_group: Mapped[int] = mapped_column(Integer, primary_key=True)
    pupils: Mapped[int] = mapped_column(Integer, default=0)  # on roll
    at_target: Mapped[int] = mapped_column(Integer, default=0)  # cumulative contacts >= the area's target
    at_risk: Mapped[int] = mapped_column(Integer, default=0)  # at risk of NEET
    at_risk_at_target: Mapped[int] = mapped_column(Integer, default=0)


class SchoolYearTotal(db.Model):
    __tablename__ = "school_year_totals"
    __table_args__ = (
        CheckConstraint("b5_met >= 0 AND providers >= 0", name="counts_not_negative"),
    )

    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    b5_met: Mapped[int] = mapped_column(Integer, default=0)  # pupils on roll meeting Benchmark 5 that year
    providers: Mapped[int] = mapped_column(Integer, default=0)  # providers engaged that year
