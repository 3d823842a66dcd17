"""Primary schools are shown honestly (the secondary target starts in Year 7), and texts about the target say the
area's target rather than a fixed "four"."""
import re
from datetime import date

import pyotp
import pytest
from flask.testing import FlaskClient

from portal.extensions import db
from portal.matching.weights import DESCRIPTIONS
from portal.models import utcnow
from portal.models.school_requests import PRIORITY_LABELS
from portal.services import kits, progress
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_school, make_user

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


# --- texts that said a fixed "four": the target is an area setting ------------------------------------------------

def test_matching_weight_and_priority_texts_are_generic():
    assert "four" not in DESCRIPTIONS["need"] and "below the target" in DESCRIPTIONS["need"]
    assert all("four" not in label for label in PRIORITY_LABELS.values())


def test_admin_weights_form_says_below_the_target(client, login, world):
    area = world[0]
    login(make_user(Role.ADMIN, **TWO_STEP))
    db.session.commit()
    html = main(client, f"/admin/areas/{area.id}/weights")
    assert "School’s need: pupils below the target" in html and "four" not in html


def test_request_form_priority_choice_is_generic(client, login, world):
    _area, secondary, *_ = world
    login(make_user(Role.CAREERS_LEAD, organisation=secondary))
    db.session.commit()
    html = main(client, "/requests/new")
    # The stored value stays "furthest_from_four" (a database CHECK names it); the words people read do not.
    assert "Pupils furthest from the target" in html and "four" not in re.sub(r"<[^>]+>", " ", html)


def test_offer_page_says_the_areas_target(client, login, world):
    area = world[0]
    provider = make_provider(area)
    offer = make_offer(provider)
    everywhere = make_offer(provider, open_to_all_areas=True)
    login(make_user(Role.PROVIDER, organisation=provider))
    db.session.commit()
    html = main(client, f"/offers/{offer.id}")
    assert "Counts toward the target of three encounters" in html and "four" not in html
    assert "Counts toward the school&#39;s target" in main(client, f"/offers/{everywhere.id}")


def test_kit_pages_say_the_areas_target(client, login, world):
    area, _secondary, _primary, lead, coordinator = world
    provider = make_provider(area)
    kit = make_offer(provider, type="primary_kit", title="When I Grow Up", year_groups=(0, 1, 2), sessions=1,
                     per_session=1, capacity=3, kit_stock=3)
    provider_user = make_user(Role.PROVIDER, organisation=provider)
    db.session.commit()
    kit_request = kits.request_kit(kit, kits.KitOrder(class_name="Oak class", year_group=1, pupils=28, note=None),
                                   by=lead)
    kits.mark_sent(kit_request, by=provider_user)
    login(lead)
    for url in ("/kits", f"/kits/requests/{kit_request.id}/used"):
        html = main(client, url)
        assert "the secondary target of three" in html and "four" not in html, url
    login(coordinator)
    html = main(client, "/kits/reach")
    assert "separate from the secondary target of three" in html and "four" not in html
