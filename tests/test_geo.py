"""Offline gazetteer and great-circle distances."""
import pytest

from portal import geo


def test_miles_between_burnley_and_preston_is_about_21():
    burnley = geo.exact_matches("Burnley")[0]
    preston = geo.exact_matches("Preston")[0]  # the biggest Preston is Lancashire's
    assert 18 < geo.miles(burnley, preston) < 24


def test_miles_between_is_symmetric_and_zero_on_the_spot():
    assert geo.miles_between(53.8, -2.2, 53.8, -2.2) == pytest.approx(0)
    assert geo.miles_between(51.5, -0.12, 55.95, -3.19) == pytest.approx(geo.miles_between(55.95, -3.19, 51.5, -0.12))
    # London to Edinburgh is about 330 miles as the crow flies.
    assert 320 < geo.miles_between(51.5, -0.12, 55.95, -3.19) < 340


def test_search_is_prefix_first_case_and_accent_insensitive():
    names = [p.name for p in geo.search_places("burn")]
    assert names[0] == "Burnley"
    assert all("burn" in n.lower() for n in names)
    assert geo.search_places("b") == []


def test_gazetteer_is_gb_only_and_sizeable():
    places = geo.gb_places()
    assert len(places) > 3000
    assert {p.nation for p in places} <= set(geo.GB_NATIONS.values())
    assert all(49 < p.latitude < 61 for p in places)


def test_miles_is_none_without_coordinates():
    class Nowhere:
        latitude = None
        longitude = None

    assert geo.miles(Nowhere(), geo.exact_matches("Burnley")[0]) is None


def test_the_cached_gazetteer_is_exactly_what_the_package_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    geo.gb_places.cache_clear()
    try:
        first = geo.gb_places()  # builds the cache file
        assert geo._cache_file().exists()
        geo.gb_places.cache_clear()
        second = geo.gb_places()  # reads it back
        expected = sorted(geo._places_from_package(), key=lambda p: (-p.population, p.name))
        assert first == second == tuple(expected)
    finally:
        geo.gb_places.cache_clear()
