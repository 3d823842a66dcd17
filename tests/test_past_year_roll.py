"""A past academic year's progress and Benchmark 5 report count who was on roll then, in their year group then."""
import re
from datetime import date

import pytest

from portal.extensions import db
from portal.models import PupilYearCount
from portal.services import counting, progress
from portal.vocab import Role
from tests.factories import make_area, make_school, make_user
from tests.test_progress import TODAY, YEAR, count_queries, pupil

PAST = YEAR - 2


def year_count(made, year, contacts):
    db.session.add(PupilYearCount(pupil_id=made.id, academic_year=year, contacts=contacts, attended=contacts))
    db.session.flush()


@pytest.fixture
def roll_world(app):
    """A secondary school two years on: pupils who moved up since, some still in primary then, leavers."""
    school = make_school(make_area(), name="Padiham High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    made = {
        "y9": pupil(school, reference="PY9000001", year_group=9, contacts=2),  # Year 7 then
        "y10": pupil(school, reference="PY1000001", year_group=10, contacts=4),  # Year 8 then
        "y8": pupil(school, reference="PY8000001", year_group=8, contacts=1),  # Year 6 then: primary school
        "y7": pupil(school, reference="PY7000001", year_group=7),  # Year 5 then
        # Left last academic year in Year 11: Year 10 then.
        "left_since": pupil(school, reference="PLS000001", year_group=11, contacts=3, status="left",
                            left_on=date(YEAR, 7, 20)),
        # Left on that year's first day in Year 9: on roll (for a day) in Year 9 then.
        "left_first_day": pupil(school, reference="PLF000001", year_group=9, status="left",
                                left_on=counting.academic_year_bounds(PAST)[0]),
        # Left at the end of the year before: not on roll then.
        "left_before": pupil(school, reference="PLB000001", year_group=11, status="left",
                             left_on=date(PAST, 7, 20)),
    }
    year_count(made["y9"], PAST, 1)  # Benchmark 5 met then, in Year 7
    year_count(made["left_since"], PAST, 2)  # met then, in Year 10
    year_count(made["y10"], YEAR, 1)  # met this year, not then
    db.session.commit()
    return school, lead, made


def test_past_year_counts_the_roll_of_that_year(roll_world):
    school, _lead, _made = roll_world
    summary = progress.school_progress(school, today=TODAY, year=PAST)
    assert not summary.is_current_year
    assert [(r.year_group, r.total, r.b5_met, r.counts) for r in summary.rows] == [
        (7, 1, 1, [0, 0, 1, 0, 0]),
        (8, 1, 0, [0, 0, 0, 0, 1]),
        (9, 1, 0, [1, 0, 0, 0, 0]),
        (10, 1, 1, [0, 0, 0, 1, 0]),
    ]
    assert (summary.totals.total, summary.totals.b5_met) == (4, 2)


def test_current_year_is_unchanged(roll_world):
    school, _lead, _made = roll_world
    summary = progress.school_progress(school, today=TODAY, year=YEAR)
    assert summary.is_current_year
    assert [(r.year_group, r.total, r.b5_met) for r in summary.rows] == [(7, 1, 0), (8, 1, 0), (9, 1, 0),
                                                                           (10, 1, 1)]
    assert summary.totals.total == 4  # pupils on roll now; no leaver


def test_college_past_year_starts_at_year_12(app):
    college = make_school(make_area(), phase="college")
    pupil(college, year_group=13)  # Year 12 last year, Year 11 (not at the college) the year before
    pupil(college, year_group=14)
    db.session.commit()
    assert [r.year_group for r in progress.school_progress(college, today=TODAY, year=YEAR - 1).rows] == [12, 13]
    assert [r.year_group for r in progress.school_progress(college, today=TODAY, year=YEAR - 2).rows] == [12]


def test_past_year_reads_as_few_statements_as_this_year(roll_world):
    school, _lead, _made = roll_world
    progress.school_progress(school, today=TODAY, year=PAST)  # warm up
    lengths = []
    for year in (YEAR, PAST):
        with count_queries() as statements:
            progress.school_progress(school, today=TODAY, year=year)
        lengths.append(len(statements))
    assert lengths[0] == lengths[1] == 2


def test_benchmark5_report_for_a_past_year(client, login, roll_world):
    _school, lead, _made = roll_world
    login(lead)
    html = client.get(f"/reports/benchmark5?year={PAST}").get_data(as_text=True)
    assert counting.academic_year_label(PAST) in html
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="text-end">(\d+)</td>'
                      r'<td class="text-end">(\d+)</td>', html)
    assert rows == [("Year 7", "1", "1"), ("Year 8", "1", "0"), ("Year 9", "1", "0"), ("Year 10", "1", "1"),
                    ("All year groups", "4", "2")]
    assert "contacts to date" in html
