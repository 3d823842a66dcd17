"""row_links (portal/links.py) gives exactly url_for's URL, for every endpoint a template uses it with."""
import re
from pathlib import Path

import pytest
from flask import Flask, url_for

from portal import create_app
from portal.links import PLACEHOLDER, row_links

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# (endpoint, key, other values) for every use in the templates, and a few other values the same templates may pass.
USED = [
    ("offers.view", "offer_id", {}),
    ("browse.request_offer", "offer_id", {}),
    ("school_requests.view", "request_id", {}),
    ("pupils.view", "pupil_id", {}),
    ("matches.view", "match_id", {}),
    ("progress.remind", "school_id", {"area_id": 3}),
    ("progress.remind", "school_id", {"area_id": PLACEHOLDER}),  # the placeholder twice: falls back, still right
    *((endpoint, "match_id", values)
      for endpoint in ("matches.approve", "matches.hold", "matches.reject", "matches.change_allocation")
      for values in ({}, {"sort": "value"}, {"sort": "school", "page": 2}, {"page": PLACEHOLDER},
                     {"sort": "a b&c=d/é"})),
]
IDS = [0, 1, 7, 42, 1234567, PLACEHOLDER, PLACEHOLDER + 1, int(str(PLACEHOLDER) * 2)]


@pytest.fixture(scope="module")
def app():
    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.parametrize(("endpoint", "key", "values"), USED)
@pytest.mark.parametrize("base", ["/", "/matches?sort=value"])
def test_the_same_url_as_url_for(app, endpoint, key, values, base):
    with app.test_request_context(base):
        link = row_links(endpoint, key, **values)
        for row_id in IDS:
            assert link(row_id) == url_for(endpoint, **{key: row_id}, **values)


def test_under_a_script_root_and_external(app):
    with app.test_request_context("/matches", base_url="https://example.org/portal/"):
        link = row_links("matches.approve", "match_id", sort="value", _external=True)
        assert link(5) == url_for("matches.approve", match_id=5, sort="value", _external=True)
        assert link(5).startswith("https://example.org/portal/")


def test_every_use_in_the_templates_is_tested():
    """A template using row_links with an endpoint not in USED would not be checked against url_for above."""
    call = re.compile(r"row_links\(\s*'([^']+)'\s*,\s*'([^']+)'")
    used = {match for path in TEMPLATES.rglob("*.html") for match in call.findall(path.read_text(encoding="utf-8"))}
    assert used, "no template uses row_links"
    assert used <= {(endpoint, key) for endpoint, key, _ in USED}


def test_asks_url_for_once_per_page_not_once_per_row(app, monkeypatch):
    import portal.links

    calls = []
    monkeypatch.setattr(portal.links, "url_for", lambda *args, **values: calls.append(args) or url_for(*args, **values))
    with app.test_request_context("/matches"):
        link = row_links("matches.approve", "match_id", sort="value")
        urls = [link(row_id) for row_id in range(1, 51)]
    assert len(calls) == 1
    assert urls[4] == "/matches/5/approve?sort=value"


@pytest.fixture(scope="module")
def odd_app():
    """Routes where filling an id into one URL would be wrong: row_links must ask url_for for each row there."""
    app = Flask(__name__)
    app.add_url_rule("/plain/<int:item_id>", "plain")
    app.add_url_rule("/text/<item_id>", "text")
    app.add_url_rule("/padded/<int(fixed_digits=4):item_id>", "padded")
    app.add_url_rule("/two/<int:item_id>", "two")
    app.add_url_rule("/two/<int:item_id>/<int:other>", "two")
    return app


@pytest.mark.parametrize("endpoint", ["plain", "text", "padded", "two"])
def test_falls_back_to_url_for_where_an_id_cannot_simply_be_filled_in(odd_app, endpoint):
    with odd_app.test_request_context("/"):
        link = row_links(endpoint, "item_id")
        for row_id in (3, 12345, True, "7", "a/b"):
            if endpoint in ("plain", "padded", "two") and not isinstance(row_id, int):
                continue  # an int converter does not take text
            assert link(row_id) == url_for(endpoint, item_id=row_id)
        if endpoint == "two":
            assert row_links(endpoint, "item_id", other=9)(3) == url_for(endpoint, item_id=3, other=9)


def test_padded_ids_show_why_the_fallback_matters(odd_app):
    """Filling 3 into the URL built for the placeholder would give /padded/3, not url_for's /padded/0003."""
    with odd_app.test_request_context("/"):
        assert row_links("padded", "item_id")(3) == "/padded/0003"
        assert row_links("plain", "item_id")(3) == "/plain/3"
