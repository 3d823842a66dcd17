"""Privacy sentinels: pupils with unmistakable names and references sit on a provider's registers; every page the
provider can reach (walked from the app's url_map and portal/policy.py) must show neither. Coordinators may see
references, never names."""
import itertools
from datetime import date

import pytest
from flask import Flask

from portal import policy
from portal.extensions import db
from portal.models import Match
from portal.services import counting
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user
from tests.test_progress import TWO_STEP, YEAR_START, held_session, pupil

SENTINEL_NAMES = ("Zebedee Sentinelname", "Quillon Sentinelname")
SENTINEL_REFERENCES = ("PSENTINEL1", "PSENTINEL2")
SKIP = {"static", "bootstrap.static"}


@pytest.fixture
def sentinel_world(app):
    area = make_area("Sentinel Vale")
    school = make_school(area, name="Sentinel Vale School", names_opt_in=True)
    provider = make_provider(area, name="Visible Provider Ltd")
    users = {
        "provider": make_user(Role.PROVIDER, organisation=provider),
        "lead": make_user(Role.CAREERS_LEAD, organisation=school),
        "coordinator": make_user(Role.COORDINATOR, areas=[area], **TWO_STEP),
    }
    pupils = [
        pupil(school, reference=reference, display_name=name, year_group=10, contacts=1, this_year=1,
              at_risk=True, last_contact_on=YEAR_START)
        for reference, name in zip(SENTINEL_REFERENCES, SENTINEL_NAMES, strict=True)
    ]
    leaver = pupil(school, reference="PSENTINEL3", display_name="Ursula Sentinelname", year_group=11,
                   status="left", left_on=YEAR_START)
    matches = [held_session(provider, school, YEAR_START, pupils),
               held_session(provider, school, date(counting.current_academic_year() - 1, 10, 1), pupils[:1])]
    db.session.commit()
    return {"area": area, "school": school, "provider": provider, "users": users, "pupils": [*pupils, leaver],
            "matches": matches}


def _candidates(world) -> dict[str, list]:
    """Values to try for each URL argument: the user's own objects (and, to be sure, some that are not)."""
    matches: list[Match] = world["matches"]
    return {
        "org_id": [world["provider"].id, world["school"].id],
        "user_id": [u.id for u in world["users"].values()],
        "area_id": [world["area"].id],
        "offer_id": [m.offer_id for m in matches],
        "request_id": [m.request_id for m in matches],
        "match_id": [m.id for m in matches],
        "pupil_id": [p.id for p in world["pupils"]],
        "school_id": [world["school"].id],
        "token": ["not-a-real-token"],
        # Programmes, levy and kits hold no pupils; their pages are walked all the same (ids that may not exist
        # answer 403/404, which is fine: the point is that no reachable page shows a pupil).
        "programme_id": [1, 2], "intern_id": [1, 2], "placement_id": [1, 2], "feedback_id": [1], "months": [3],
        "week_no": [1], "pledge_id": [1, 2], "application_id": [1, 2],
    }


def _reachable_urls(app: Flask, user, world) -> list[str]:
    candidates = _candidates(world)
    urls = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP or "GET" not in rule.methods or not policy.may_reach(user, rule.endpoint):
            continue
        names = sorted(rule.arguments)
        missing = [name for name in names if name not in candidates]
        assert not missing, f"{rule.rule}: no sentinel value for {missing}; add one to _candidates"
        for values in itertools.product(*(candidates[name] for name in names)):
            urls.append(adapter.build(rule.endpoint, dict(zip(names, values, strict=True))))
    return urls


def _bodies(client, urls):
    for url in urls:
        response = client.get(url, follow_redirects=True)
        assert response.status_code < 500, f"{url}: {response.status_code}"
        yield url, response.get_data(as_text=True)


def test_provider_pages_never_show_pupil_names_or_references(app, client, login, sentinel_world):
    user = sentinel_world["users"]["provider"]
    login(user)
    urls = _reachable_urls(app, user, sentinel_world)
    assert "/impact" in urls and any(url.startswith("/matches/") for url in urls)
    seen = 0
    for url, body in _bodies(client, urls):
        seen += 1
        for sentinel in (*SENTINEL_NAMES, *SENTINEL_REFERENCES, "Sentinelname", "PSENTINEL"):
            assert sentinel not in body, f"{url} shows {sentinel!r} to a provider"
    assert seen == len(urls) > 10
    # The impact page does count them (so the test is not passing on an empty page).
    login(user)
    assert "Pupils reached</th><td class=\"text-end\">2<" in client.get("/impact").get_data(as_text=True)


def test_coordinator_pages_never_show_pupil_names(app, client, login, sentinel_world):
    user = sentinel_world["users"]["coordinator"]
    login(user)
    urls = _reachable_urls(app, user, sentinel_world)
    assert f"/progress/areas/{sentinel_world['area'].id}" in urls
    for url, body in _bodies(client, urls):
        assert "Sentinelname" not in body, f"{url} shows a pupil's name to a coordinator"


def test_the_sentinels_are_visible_to_their_own_careers_lead(app, client, login, sentinel_world):
    """The control: the same names and references do appear where they belong, so the searches above can fail."""
    login(sentinel_world["users"]["lead"])
    body = client.get("/progress").get_data(as_text=True)
    assert all(reference in body for reference in SENTINEL_REFERENCES)
    assert all(name in body for name in SENTINEL_NAMES)
