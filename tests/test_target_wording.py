"""The area's contact target in running text: pages and matching reasons say the area's target (counting.target_text),
not a fixed "four"; with the default target they read as before."""
from dataclasses import replace
from datetime import timedelta
from html import unescape

import pytest

from portal.extensions import db
from portal.matching import solve
from portal.services import counting, registers
from portal.services import matching as matching_service
from tests.factories import make_area, make_pupil
from tests.test_matching_engine import instance
from tests.test_registers import World

NOTHING_HELD = registers.Checklist(purpose_shared=False, learning_outcomes=False, two_way=False, time_to_reflect=False)
WORDS = {3: "three", 4: "four"}


def world(starts_in: timedelta, target: int) -> World:
    """A match of a school in an area with this contact target, and one pupil of that school."""
    made = World(starts_in=starts_in)
    made.area.contact_target = target
    made.pupil = make_pupil(made.school)
    db.session.commit()
    return made


def text(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("target", [3, 4])
def test_the_target_in_words_follows_the_area_setting(app, target):
    assert counting.target_text(make_area(contact_target=target)) == WORDS[target]
    assert counting.target_text(make_area(contact_target=12)) == "12"


@pytest.mark.parametrize("target", [3, 4])
def test_the_pupil_and_organisation_pages_say_the_areas_target(app, client, login, target):
    w = world(-timedelta(hours=2), target)
    login(w.lead)
    word = WORDS[target]
    registers.set_register(w.match, [w.pupil.id], by=w.lead)  # a session on the pupil's timeline
    page = text(client, f"/pupils/{w.pupil.id}")
    assert f"Meaningful encounters counted toward {word} since Year 7" in page
    assert f"whether it counted toward {word}</caption>" in page
    page = text(client, f"/organisations/{w.school.id}/edit")
    assert f"how far each year group is from {word} encounters" in page
    if target != 4:
        assert "toward four since" not in page and "from four" not in page


@pytest.mark.parametrize("target", [3, 4])
def test_the_register_pages_and_the_match_page_say_the_areas_target(app, client, login, target):
    word = WORDS[target]
    future = world(timedelta(days=3), target)
    login(future.lead)
    assert f"the suggestion: furthest from {word} first" in text(client, f"/matches/{future.match.id}/register")

    past = world(-timedelta(hours=2), target)
    login(past.lead)
    registers.set_register(past.match, [past.pupil.id], by=past.lead)
    attendance = text(client, f"/matches/{past.match.id}/attendance")
    assert f"Only a session with all four counts toward pupils' {word} encounters" in attendance
    registers.record_attendance(past.match, [past.pupil.id], NOTHING_HELD, by=past.lead)
    match_page = text(client, f"/matches/{past.match.id}")
    assert f"No: not counted toward {word}" in match_page
    if target != 4:
        assert "not counted toward four" not in match_page
        assert "pupils' four" not in attendance


@pytest.mark.parametrize("target", [3, 4])
def test_the_matching_reasons_say_the_areas_target(app, target):
    area = make_area(contact_target=target)
    db.session.commit()
    assert matching_service.build_instance(area).target_text == WORDS[target]
    (proposal,) = solve(replace(instance(), target_text=WORDS[target])).proposals
    assert f"of the school's Years 9–10 have fewer than {WORDS[target]} contacts" in proposal.reasons_text
    if target != 4:
        assert "four" not in proposal.reasons_text


def test_an_instance_keeps_the_target_words_through_json():
    inst = replace(instance(), target_text="three")
    assert type(inst).from_json(inst.to_json()).target_text == "three"
