"""Primary schools are shown honestly (the secondary target starts in Year 7), and texts about the target say the
area's target rather than a fixed "four"."""
import re
from datetime import date

import pyotp
import pytest
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import utcnow
from portal.services import progress
from portal.vocab import Role
from tests.factories import make_area, make_pupil, make_school, make_user

TODAY = date.today()
TWO_STEP = {"totp_secret": pyotp.random_base32(), "totp_enabled_at": utcnow()}


def main(client: FlaskClient, url: str) -> str:
    """The page's <main>: the footer's own wording is not the page's."""
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True).split('<main id="main"', 1)[1].split("</main>", 1)[0]


@pytest.fixture
def world(app):
    """An area whose target is three, with a secondary school (Year 9 pupils) and a primary school (Year 1 pupils)."""
    area = make_area("Burnley", contact_target=3)
    secondary = make_school(area, name="Burnley High")
    primary = make_school(area, name="Padiham Primary", phase="primary", year_sizes={1: 30})
    make_pupil(secondary, year_group=9)
    make_pupil(primary, year_group=1)
    lead = make_user(Role.CAREERS_LEAD, organisation=primary, email="lead@padiham.example")
    coordinator = make_user(Role.COORDINATOR, areas=[area], **TWO_STEP)
    db.session.commit()
    return area, secondary, primary, lead, coordinator


def test_area_overview_flags_the_primary_school_and_leaves_it_out_of_the_year_columns(world):
    area, secondary, primary, *_ = world
    overview = progress.area_overview(area, today=TODAY)
    rows = {s.school.id: s for s in overview.schools}
    assert rows[primary.id].primary and not rows[secondary.id].primary
    assert overview.has_primary
    assert overview.year_groups == [9]  # not Year 1: the primary school's pupils are not counted toward the target
    assert overview.totals.on_roll == 1


def test_area_overview_page_shows_primary_reach_instead_of_zeros(client, login, world):
    area, _secondary, _primary, _lead, coordinator = world
    login(coordinator)
    html = client.get(f"/progress/areas/{area.id}").get_data(as_text=True)
    row = re.search(r"<th scope=\"row\">Padiham Primary</th>(.*?)</tr>", html, re.S).group(1)
    # One cell spans Year 9, "All at 3+", Benchmark 5 and at risk: no column of zeros.
    assert row.strip().startswith('<td colspan="4">Primary school') and "/kits/reach" in row
    assert row.count("0 / 0") == 1  # only the leavers' destinations, which every school has
    assert "primary reach" in html.split("</table>")[1]


def test_primary_schools_progress_page_says_the_target_does_not_apply(client, login, world):
    _area, _secondary, _primary, lead, _coordinator = world
    login(lead)
    html = main(client, "/progress")
    assert "does not apply" in html and "target of three" in html and 'href="/kits"' in html
    assert "since Year 7" not in html and "<svg" not in html and "four" not in html
