"""The places lookup (search-as-you-type) and location fields that work without JavaScript."""
import re

import pytest

from portal import geo
from portal.extensions import db
from portal.models import Organisation
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_user


def _place(name: str, nth: int = 0) -> geo.Place:
    return geo.exact_matches(name)[nth]


@pytest.fixture
def provider(app, login) -> Organisation:
    """A signed-in provider contact whose organisation is in Burnley."""
    org = make_provider(make_area("Burnley"), town="Burnley", latitude=53.78, longitude=-2.24)
    user = make_user(Role.PROVIDER, organisation=org)
    db.session.commit()
    login(user)
    return org


def _save(client, org: Organisation, **location) -> object:
    """Submit the provider's profile unchanged except for the location fields."""
    data = {"version": str(org.version), "name": org.name, "provider_kind": "employer", "sectors": ["engineering"],
            "size_band": "medium", **location}
    return client.post(f"/organisations/{org.id}/edit", data=data)


def _reload(org: Organisation) -> Organisation:
    db.session.rollback()
    return db.session.get(Organisation, org.id)


# --- GET /places ---------------------------------------------------------------------------------

def test_places_answers_json_for_a_prefix_biggest_first(client):
    response = client.get("/places?q=burn")
    assert response.status_code == 200
    places = response.get_json()
    assert 1 <= len(places) <= 10
    burnley = _place("Burnley")
    assert places[0] == {"id": burnley.geonameid, "name": "Burnley", "label": "Burnley, England",
                         "latitude": burnley.latitude, "longitude": burnley.longitude}
    assert all("burn" in p["name"].lower() for p in places)


def test_places_are_limited_to_ten_and_put_prefix_matches_first(client):
    places = client.get("/places?q=pres").get_json()
    assert len(places) == 10
    assert places[0]["name"] == "Preston"  # the biggest Preston
    assert all(p["name"].lower().startswith("pres") for p in places)


@pytest.mark.parametrize("query", ["", "?q=", "?q=b", "?q=%20b%20"])
def test_a_query_shorter_than_two_letters_finds_nothing(client, query):
    response = client.get(f"/places{query}")
    assert response.status_code == 200
    assert response.get_json() == []


def test_the_lookup_is_open_to_people_signing_up(client):
    """Anonymous visitors fill in locations on the sign-up form."""
    assert client.get("/places?q=Pres").status_code == 200


# --- resolving a location without JavaScript -----------------------------------------------------

def test_a_unique_town_is_resolved_to_its_coordinates(client, provider):
    provider.town, provider.latitude, provider.longitude = "Elsewhere", 54.0, -2.0
    db.session.commit()
    response = _save(client, provider, town="burnley")  # any case
    assert response.status_code == 302
    burnley = _place("Burnley")
    org = _reload(provider)
    assert (org.town, org.latitude, org.longitude) == ("Burnley", burnley.latitude, burnley.longitude)


@pytest.mark.parametrize("town", ["Preston", "Newport"])
def test_an_ambiguous_town_asks_which_one_then_accepts_the_choice(client, provider, town):
    count = len(geo.exact_matches(town))
    assert count > 1
    response = _save(client, provider, town=town)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"There are {count} places called {town}. Choose one." in html
    assert html.count('<option') >= count and 'name="place_choice"' in html
    assert _reload(provider).town == "Burnley"  # nothing saved yet

    second = _place(town, 1)
    response = _save(client, provider, town=town, place_choice=str(second.geonameid))
    assert response.status_code == 302
    org = _reload(provider)
    assert (org.town, org.latitude, org.longitude) == (town, second.latitude, second.longitude)


def test_the_hidden_place_id_set_by_the_script_picks_the_place(client, provider):
    second = _place("Preston", 1)
    assert _save(client, provider, town="Preston", place_id=str(second.geonameid)).status_code == 302
    assert _reload(provider).longitude == second.longitude


@pytest.mark.parametrize("field", ["place_choice", "place_id"])
def test_a_chosen_place_is_ignored_once_the_town_box_names_another(client, provider, field):
    """Asked "which Preston?", the user typed Burnley instead: Burnley it is, not the first Preston."""
    preston = _place("Preston")
    assert _save(client, provider, town="Burnley", **{field: str(preston.geonameid)}).status_code == 302
    org = _reload(provider)
    assert (org.town, org.latitude) == ("Burnley", _place("Burnley").latitude)


def test_an_unknown_town_is_an_error_with_suggestions(client, provider):
    response = _save(client, provider, town="Burnle")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "We could not find" in html and "Did you mean: Burnley" in html
    assert 'href="#town"' in html  # the error summary links to the field


def test_no_town_and_no_coordinates_is_an_error(client, provider):
    response = _save(client, provider, town="")
    assert "Enter a town or village, or latitude and longitude." in response.get_data(as_text=True)


@pytest.mark.parametrize(("given", "missing"), [("latitude", "longitude"), ("longitude", "latitude")])
def test_latitude_without_longitude_is_an_error(client, provider, given, missing):
    response = _save(client, provider, town="", **{given: "53.5"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Give both latitude and longitude, or neither." in html
    assert f'href="#{missing}"' in html
    assert _reload(provider).latitude == 53.78


def test_coordinates_outside_great_britain_are_refused(client, provider):
    response = _save(client, provider, town="", latitude="40.7", longitude="-74.0")
    assert response.status_code == 200
    assert _reload(provider).latitude == 53.78


def test_explicit_coordinates_are_stored_with_the_name_given(client, provider):
    assert _save(client, provider, town="Hill Top Farm", latitude="53.81", longitude="-2.31").status_code == 302
    org = _reload(provider)
    assert (org.town, org.latitude, org.longitude) == ("Hill Top Farm", 53.81, -2.31)


def test_a_stored_ambiguous_town_loads_as_the_chosen_place(client, provider):
    """An organisation at the second Preston sees "Preston" with that Preston chosen, not bare coordinates."""
    second = _place("Preston", 1)
    provider.town, provider.latitude, provider.longitude = "Preston", second.latitude, second.longitude
    db.session.commit()
    html = client.get(f"/organisations/{provider.id}/edit").get_data(as_text=True)
    assert re.search(rf'<option selected value="{second.geonameid}">', html)
    assert re.search(r'id="latitude"[^>]*value=""', html)


# --- the page and its script ---------------------------------------------------------------------

def test_location_fields_come_with_a_datalist_and_an_external_deferred_script(client, provider):
    html = client.get(f"/organisations/{provider.id}/edit").get_data(as_text=True)
    assert '<datalist id="places-list" data-url="/places"></datalist>' in html
    assert re.search(r'<input[^>]*data-places="1"[^>]*list="places-list"', html)
    assert '<script src="/static/js/places.js" defer></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script would break the CSP"
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers would break the CSP"


def test_the_script_is_served_and_only_enhances(client):
    response = client.get("/static/js/places.js")
    assert response.status_code == 200
    script = response.get_data(as_text=True)
    response.close()
    assert 'data-places="1"' in script and "place_id" in script and "data-url" in script
