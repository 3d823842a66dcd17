"""Browsing offers: who sees which, every filter, distance and sort, pagination, bad input, and a constant
number of SQL queries per page."""
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_school, make_user

SCHOOL_AT = (53.79, -2.25)  # Burnley


class _Results(HTMLParser):
    """The cells of each row of the results table (the first is the offer's title)."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[str] = []
        self._in_body = False
        self._cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = True
            self.rows[-1].append("")
        elif tag == "a":
            self.links.append(dict(attrs).get("href", ""))

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data):
        if self._cell and self._in_body:
            self.rows[-1][-1] += data.strip()


def parse(response) -> _Results:
    assert response.status_code == 200, response.status_code
    parser = _Results()
    parser.feed(response.get_data(as_text=True))
    return parser


def titles(response) -> list[str]:
    return [row[0] for row in parse(response).rows]


@pytest.fixture
def world(app):
    """Burnley with a school and its careers lead; providers near and far; Preston next door."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High", latitude=SCHOOL_AT[0], longitude=SCHOOL_AT[1])
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    near = make_provider(burnley, name="Near Works", latitude=53.80, longitude=-2.24)  # ~0.8 miles
    mid = make_provider(burnley, name="Mid Works", latitude=53.90, longitude=-2.25)  # ~7.6 miles
    far = make_provider(burnley, name="Far Works", latitude=54.05, longitude=-2.25)  # ~18 miles
    nowhere = make_provider(burnley, name="Nowhere Ltd", latitude=None, longitude=None)
    preston_provider = make_provider(preston, name="Preston Works", latitude=53.76, longitude=-2.70)
    db.session.commit()
    return {"burnley": burnley, "preston": preston, "school": school, "lead": lead, "near": near, "mid": mid,
            "far": far, "nowhere": nowhere, "preston_provider": preston_provider}


@pytest.fixture
def as_lead(client, login, world):
    login(world["lead"])
    return client


# --- who sees what ----------------------------------------------------------------------------------------------

def test_only_live_published_offers_of_the_area_or_open_to_all_are_shown(as_lead, world):
    today = date.today()
    make_offer(world["near"], title="Visible talk")
    make_offer(world["preston_provider"], title="Preston only")
    make_offer(world["preston_provider"], title="Preston for everyone", open_to_all_areas=True)
    make_offer(world["near"], title="A draft", status="draft")
    make_offer(world["near"], title="Paused one", status="paused")
    make_offer(world["near"], title="Closed one", status="closed")
    make_offer(world["near"], title="Already over", starts_on=today - timedelta(days=30),
               ends_on=today - timedelta(days=1))
    make_offer(world["near"], title="Ends today", starts_on=today - timedelta(days=3), ends_on=today)
    make_offer(world["near"], title="Full up", capacity=10, allocated=10, sessions=1, per_session=10)
    make_offer(world["near"], title="Internship", type="internship_week", year_groups=(14,))
    db.session.commit()
    shown = set(titles(as_lead.get("/browse/offers")))
    assert shown == {"Visible talk", "Preston for everyone", "Ends today"}


def test_a_coordinator_sees_their_areas_without_distances_then_picks_a_school(client, login, world):
    coordinator = make_user(Role.COORDINATOR, areas=[world["burnley"]])
    make_offer(world["near"], title="Burnley talk")
    make_offer(world["preston_provider"], title="Preston talk")
    db.session.commit()
    make_offer(world["preston_provider"], title="Preston for all", open_to_all_areas=True)
    db.session.commit()
    login(coordinator)
    page = parse(client.get("/browse/offers"))
    assert [row[0] for row in page.rows] == ["Burnley talk", "Preston for all"]
    assert page.rows[0][3] == "Choose a school to see"
    offer_links = [link for link in page.links if link.startswith("/offers/")]
    assert len(offer_links) == 1  # another area's offer is listed, but its page is its own coordinators' to open
    picked = parse(client.get(f"/browse/offers?school_id={world['school'].id}"))
    assert picked.rows[0][:4] == ["Burnley talk", "Near Works", "Careers talk or assemblyIn school", "0.8 miles"]


def test_a_coordinator_cannot_measure_from_another_areas_school(client, login, world):
    coordinator = make_user(Role.COORDINATOR, areas=[world["burnley"]])
    preston_school = make_school(world["preston"], name="Preston School")
    make_offer(world["preston_provider"], title="Preston talk")
    db.session.commit()
    login(coordinator)
    response = client.get(f"/browse/offers?school_id={preston_school.id}&within=5")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose one of your areas&#39; schools." in body
    assert "Distances need a school with a location" in body
    assert titles(response) == []  # still only Burnley's offers, and none are published


def test_a_school_without_a_location_browses_without_distances(client, login, world):
    school = make_school(world["burnley"], name="Unplaced School", latitude=None, longitude=None)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    make_offer(world["far"], title="Far talk", starts_on=date.today() + timedelta(days=3))
    make_offer(world["near"], title="Near talk", starts_on=date.today() + timedelta(days=9))
    db.session.commit()
    login(lead)
    page = parse(client.get("/browse/offers"))
    assert [row[0] for row in page.rows] == ["Far talk", "Near talk"]  # soonest first: nothing to measure from
    assert page.rows[0][3] == "Not known"
    response = client.get("/browse/offers?within=5")
    assert "Your school has no location on its profile" in response.get_data(as_text=True)
    assert len(titles(response)) == 2


def test_an_admin_sees_every_area(client, login, world):
    make_offer(world["near"], title="Burnley talk")
    make_offer(world["preston_provider"], title="Preston talk")
    db.session.commit()
    login(make_user(Role.ADMIN))
    assert set(titles(client.get("/browse/offers"))) == {"Burnley talk", "Preston talk"}


# --- filters ----------------------------------------------------------------------------------------------------

@pytest.fixture
def catalogue(world):
    """Offers that differ in one thing each, so each filter has one clear answer."""
    today = date.today()
    make_offer(world["near"], title="Talk near", type="careers_talk", sector="engineering", year_groups=(9, 10),
               delivery="in_school", starts_on=today + timedelta(days=10), ends_on=today + timedelta(days=20),
               description="Engines and gears")
    make_offer(world["mid"], title="Visit mid", type="workplace_visit", sector="health", year_groups=(11,),
               delivery="workplace", starts_on=today + timedelta(days=40), ends_on=today + timedelta(days=50),
               description="A day at the hospital: 100% hands-on")
    make_offer(world["far"], title="Mentoring far", type="mentoring", sector="digital", year_groups=(12, 13),
               delivery="in_school", starts_on=today + timedelta(days=5), ends_on=today + timedelta(days=90),
               description="Code_club for sixth formers")
    make_offer(world["nowhere"], title="Online anywhere", type="virtual_encounter", sector="finance",
               year_groups=(9,), delivery="virtual", starts_on=today + timedelta(days=1),
               ends_on=today + timedelta(days=30), description="A live call with a bank", virtual_link_note="Email")
    db.session.commit()


@pytest.mark.parametrize(("query", "expected"), [
    ("type=workplace_visit", {"Visit mid"}),
    ("sector=digital", {"Mentoring far"}),
    ("year=9", {"Talk near", "Online anywhere"}),
    ("year=11", {"Visit mid"}),
    ("delivery=in_school", {"Talk near", "Mentoring far"}),
    ("delivery=virtual", {"Online anywhere"}),
    # The offer's dates overlap the chosen ones.
    (f"date_from={date.today() + timedelta(days=45)}", {"Visit mid", "Mentoring far"}),
    (f"date_to={date.today() + timedelta(days=4)}", {"Online anywhere"}),
    (f"date_from={date.today() + timedelta(days=21)}&date_to={date.today() + timedelta(days=35)}",
     {"Mentoring far", "Online anywhere"}),
    ("type=careers_talk&sector=engineering&year=10", {"Talk near"}),
])
def test_each_filter_narrows_the_list(as_lead, catalogue, query, expected):
    assert set(titles(as_lead.get(f"/browse/offers?{query}"))) == expected


def test_within_n_miles_keeps_near_offers_and_virtual_ones(as_lead, catalogue):
    assert set(titles(as_lead.get("/browse/offers?within=1"))) == {"Talk near", "Online anywhere"}
    assert set(titles(as_lead.get("/browse/offers?within=10"))) == {"Talk near", "Visit mid", "Online anywhere"}
    assert set(titles(as_lead.get("/browse/offers?within=20"))) == {"Talk near", "Visit mid", "Mentoring far",
                                                                    "Online anywhere"}


def test_within_leaves_out_in_person_offers_of_providers_without_a_location(as_lead, world):
    make_offer(world["nowhere"], title="Somewhere unknown")
    make_offer(world["near"], title="Close by")
    db.session.commit()
    assert titles(as_lead.get("/browse/offers?within=50")) == ["Close by"]


def test_sorted_nearest_first_by_default_with_unknown_locations_last(as_lead, world):
    make_offer(world["nowhere"], title="Unknown place", starts_on=date.today() + timedelta(days=1))
    make_offer(world["far"], title="Far away")
    make_offer(world["near"], title="Next door")
    make_offer(world["mid"], title="In between")
    db.session.commit()
    page = parse(as_lead.get("/browse/offers"))
    assert [row[0] for row in page.rows] == ["Next door", "In between", "Far away", "Unknown place"]
    assert [row[3] for row in page.rows] == ["0.8 miles", "7.6 miles", "18.0 miles", "Not known"]
    assert titles(as_lead.get("/browse/offers?sort=distance")) == ["Next door", "In between", "Far away",
                                                                   "Unknown place"]


def test_soonest_first_sorts_by_start_date(as_lead, catalogue):
    assert titles(as_lead.get("/browse/offers?sort=soonest")) == [
        "Online anywhere", "Mentoring far", "Talk near", "Visit mid"]


def test_each_result_shows_provider_type_distance_places_and_dates(as_lead, world):
    today = date.today()
    make_offer(world["near"], title="Placements", type="work_experience", placement_days=5, sessions=1,
               per_session=1, capacity=4, allocated=3, starts_on=today + timedelta(days=1),
               ends_on=today + timedelta(days=1))
    make_offer(world["nowhere"], title="On a screen", type="virtual_encounter", delivery="virtual",
               virtual_link_note="Email", sessions=2, per_session=30, starts_on=today + timedelta(days=2))
    db.session.commit()
    rows = {row[0]: row for row in parse(as_lead.get("/browse/offers")).rows}
    assert rows["Placements"][1:6] == ["Near Works", "Work experience placementIn school", "0.8 miles",
                                       "1 place left", f"{(today + timedelta(days=1)).day} "
                                                       f"{today + timedelta(days=1):%b %Y}"]
    assert rows["On a screen"][3:5] == ["Virtual", "60 pupils left"]


def test_text_search_is_case_insensitive_over_title_and_description(as_lead, catalogue):
    assert titles(as_lead.get("/browse/offers?q=ENGINES")) == ["Talk near"]
    assert titles(as_lead.get("/browse/offers?q=mentoring")) == ["Mentoring far"]


def test_percent_and_underscore_in_the_search_match_literally(as_lead, catalogue):
    assert titles(as_lead.get("/browse/offers?q=100%25")) == ["Visit mid"]
    assert titles(as_lead.get("/browse/offers?q=%25")) == ["Visit mid"]
    assert titles(as_lead.get("/browse/offers?q=code_club")) == ["Mentoring far"]
    assert titles(as_lead.get("/browse/offers?q=_")) == ["Mentoring far"]  # not "any one character"


def test_no_results_suggests_widening_the_filters(as_lead, catalogue):
    body = as_lead.get("/browse/offers?q=astronaut").get_data(as_text=True)
    assert "No offers match these filters" in body and "Try widening your search" in body


def test_nothing_published_says_so(as_lead, world):
    body = as_lead.get("/browse/offers").get_data(as_text=True)
    assert "No offers with places left are published for your area" in body


# --- pages ------------------------------------------------------------------------------------------------------

def test_pages_of_twenty_keep_the_filters_in_their_links(as_lead, world):
    for n in range(25):
        make_offer(world["near"], title=f"Talk {n:02d}", sector="health", starts_on=date.today() + timedelta(days=n))
    make_offer(world["near"], title="Another sector", sector="retail")
    db.session.commit()
    first = parse(as_lead.get("/browse/offers?sector=health&sort=soonest"))
    assert [row[0] for row in first.rows] == [f"Talk {n:02d}" for n in range(20)]
    page_two = [link for link in first.links if "page=2" in link]
    assert page_two and all("sector=health" in link and "sort=soonest" in link for link in page_two)
    second = parse(as_lead.get(page_two[0]))
    assert [row[0] for row in second.rows] == [f"Talk {n:02d}" for n in range(20, 25)]


def caption(response) -> str:
    text = response.get_data(as_text=True)
    return text[text.index("<caption>") + len("<caption>"):text.index("</caption>")].strip()


@pytest.mark.parametrize("query", ["", "within=100", "sort=soonest", "sort=soonest&within=100", "q=talk"])
def test_each_page_is_in_order_and_counts_every_match(as_lead, world, query):
    """The page and its total come from one statement (the ids ranked and counted in a subquery): every page must
    still show the whole list's count, and the pages put together must be the whole list in order."""
    providers = [make_provider(world["burnley"], name=f"Works {n:02d}", latitude=53.79 + n / 200, longitude=-2.25)
                 for n in range(25)]
    for n, provider in enumerate(providers):  # nearest starts last, so the two sorts disagree
        make_offer(provider, title=f"Talk {n:02d}", starts_on=date.today() + timedelta(days=30 - n))
    make_offer(world["preston_provider"], title="Talk in Preston")  # another area's: never counted
    db.session.commit()
    by_distance = [f"Talk {n:02d}" for n in range(25)]
    expected = list(reversed(by_distance)) if "soonest" in query else by_distance
    first, second = as_lead.get(f"/browse/offers?{query}"), as_lead.get(f"/browse/offers?{query}&page=2")
    assert titles(first) + titles(second) == expected
    assert (caption(first), caption(second)) == ("25 offers, page 1 of 2", "25 offers, page 2 of 2")


def test_a_page_past_the_end_offers_the_first(as_lead, world):
    make_offer(world["near"], title="Only one")
    db.session.commit()
    response = as_lead.get("/browse/offers?page=9")
    assert response.status_code == 200 and "There is no page 9" in response.get_data(as_text=True)


# --- bad input --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "message"), [
    ("type=spaceflight", "Choose a type of encounter from the list."),
    ("sector=piracy", "Choose a sector from the list."),
    ("year=99", "Choose a year group from the list."),
    ("year=nine", "Choose a year group from the list."),
    ("delivery=pigeon", "Choose a way of delivery from the list."),
    ("date_from=yesterday", "Enter a date as a day, month and year"),
    ("date_to=2026-02-31", "Enter a date as a day, month and year"),
    (f"date_from={date.today() + timedelta(days=12)}&date_to={date.today() + timedelta(days=11)}",
     "The last date must be on or after the first date."),
    ("within=abc", "Enter a whole number of miles"),
    ("within=0", "Enter a distance from 1 to 200 miles."),
    ("within=-5", "Enter a distance from 1 to 200 miles."),
    ("within=99999999999999999999999", "Enter a distance from 1 to 200 miles."),
    ("q=" + "x" * 101, "Search for at most 100 characters."),
    ("sort=random", "Choose how to sort from the list."),
])
def test_a_bad_filter_is_explained_beside_it_and_the_rest_still_works(as_lead, catalogue, query, message):
    response = as_lead.get(f"/browse/offers?{query}&sector=engineering")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message.replace("'", "&#39;") in body
    if "sector=piracy" not in query:
        assert titles(response) == ["Talk near"]


def test_a_bad_page_number_is_page_one(as_lead, catalogue):
    assert len(titles(as_lead.get("/browse/offers?page=abc"))) == 4
    assert len(titles(as_lead.get("/browse/offers?page=-3"))) == 4


# --- SQL per page -----------------------------------------------------------------------------------------------

def _count_queries(client, url: str) -> tuple[int, int]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    db.session.expunge_all()  # as in production: each request loads its user and school afresh
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(statements), len(titles(response))


def test_the_number_of_queries_does_not_grow_with_the_results_shown(as_lead, world):
    providers = [make_provider(world["burnley"], name=f"Provider {n}", latitude=53.7 + n / 100, longitude=-2.3)
                 for n in range(20)]
    for n, provider in enumerate(providers):
        make_offer(provider, title=f"Talk {n}", sector="health" if n < 5 else "engineering")
    db.session.commit()
    few_queries, few = _count_queries(as_lead, "/browse/offers?sector=health")
    many_queries, many = _count_queries(as_lead, "/browse/offers")
    assert (few, many) == (5, 20)
    assert few_queries == many_queries
    assert many_queries <= 3  # the user, the school, the page of offers with their providers and its total
