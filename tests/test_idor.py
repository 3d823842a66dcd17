"""Probing other organisations' ids (issue 7, IDOR): every route whose URL names an object, visited with the id of
another organisation's (or another area's) object, as the access matrix's provider and as its careers lead.

The answer must be a refusal (403, or 404 as if the object did not exist), never a page showing the other
organisation's data, never a 500, and nothing in the database may change. The routes are read from app.url_map:
a URL argument this file cannot map to an object fails test_every_object_route_is_probed, so a new route is never
skipped silently. The world is the access matrix's, with additions: distinctive names for the other area's
objects (so a leak shows in the page), an application to its pledge, a pending user of its provider, and a
provider and a school in the matrix's own area with their own objects ("nearby": a check that compares areas
where it should compare organisations lets those through).
"""
import shutil

import pytest
import sqlalchemy as sa
from flask import url_for

from portal import create_app
from portal.extensions import db
from portal.models import KitRequest, Match, Organisation, Pupil, RosterUpload, SchoolRequest
from portal.vocab import Role
from tests.factories import make_offer, make_pledge_application, make_provider, make_request, make_school, make_user
from tests.test_access_matrix import _build_world, _snapshot
from tests.test_bad_input import _fingerprint, _sign_in

ROLES = ("provider", "careers_lead")

# Routes with URL arguments that are public by design: what they name is a secret link, not another
# organisation's object (a guessed token is simply not found), or a file.
PUBLIC_BY_DESIGN = {
    "static": "the app's own CSS and JavaScript",
    "bootstrap.static": "Flask-Bootstrap's files",
    "signup.confirm_email": "the link in a sign-up email; the token is the credential",
    "auth.reset_password": "the link in a password reset email; the token is the credential",
    "feedback.form": "an intern's or provider's feedback link; the token is the credential",
}

# URL arguments that are not object ids: a value any object of that kind accepts.
PARAMETERS = {"months": 3, "week_no": 1}

MISSING_ID = 987_654_321


def _orgs(w, role):
    """Organisations that are not the user's: another area's provider and school, a provider and a school of the
    user's own area, and the other kind of organisation the user works with."""
    partner = w.school if role == "provider" else w.provider_org
    return [("other provider", w.other_provider.id), ("other school", w.other_school.id),
            ("nearby provider", w.nearby_provider.id), ("nearby school", w.nearby_school.id), ("partner", partner.id)]


def _pupils(w, role):
    probes = [("other school's pupil", w.other_pupil.id), ("nearby school's pupil", w.nearby_pupil.id)]
    if role == "provider":  # providers never see pupils, not even those of the school they work with
        probes.append(("partner school's pupil", w.pupil.id))
    return probes


def _both(kind: str):
    """Another area's object of this kind, then one of another organisation in the user's own area."""
    return lambda w, r: [(f"other {kind}", getattr(w, f"other_{kind}").id),
                         (f"nearby {kind}", getattr(w, f"nearby_{kind}").id)]


# (blueprint or endpoint, argument) -> the ids of objects that are not the signed-in user's. An endpoint's own
# entry wins over its blueprint's, which wins over the argument alone (None).
OBJECTS = {
    (None, "org_id"): _orgs,
    (None, "offer_id"): lambda w, r: [("other offer", w.other_offer.id), ("other kit", w.other_kit.id),
                                      ("nearby offer", w.nearby_offer.id)],
    (None, "request_id"): _both("request"),
    # Providers see their own area's open requests and may offer to meet them: only another area's is refused.
    ("browse.offer_to_meet", "request_id"): lambda w, r: [("other request", w.other_request.id)],
    ("kits", "request_id"): _both("kit_request"),
    (None, "match_id"): _both("match"),
    (None, "pupil_id"): _pupils,
    (None, "programme_id"): lambda w, r: [("other programme", w.other_programme.id)],
    (None, "intern_id"): lambda w, r: [("other intern", w.other_intern.id)],
    (None, "placement_id"): lambda w, r: [("other placement", w.other_placement.id)],
    (None, "feedback_id"): lambda w, r: [("other feedback", w.other_intern_feedback.id)],
    (None, "pledge_id"): lambda w, r: [("other pledge", w.other_pledge.id)],
    (None, "application_id"): _both("pledge_application"),
    (None, "area_id"): lambda w, r: [("other area", w.other_school.area_id)],
    (None, "school_id"): lambda w, r: [("other school", w.other_school.id)],
    (None, "user_id"): _both("user"),
    ("pupils.mapping", "token"): lambda w, r: [("other school's upload", w.other_upload.token),
                                               ("nearby school's upload", w.nearby_upload.token)],
}

# Sent with every POST: the names forms use for a confirmation, a reason, a version, a status, a number... so a
# route that forgot its check would get far enough to act (and the fingerprint would show it).
POST_DATA = {"confirm": "y", "reason": "IDOR probe", "note": "IDOR probe", "action": "approve", "status": "published",
             "allocation": "1", "pupils": "1", "version": "1", "attended": "y", "outcome": "completed"}


def _lookup(endpoint: str, argument: str):
    blueprint = endpoint.rpartition(".")[0] or None
    for key in ((endpoint, argument), (blueprint, argument), (None, argument)):
        if key in OBJECTS:
            return OBJECTS[key]
    return None


def _object_routes(app):
    """(endpoint, method, rule) for every route with a URL argument, GET and POST, public ones left out."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint in PUBLIC_BY_DESIGN:
            continue
        routes += [(rule.endpoint, method, rule) for method in ("GET", "POST") if method in rule.methods]
    return sorted(routes, key=lambda r: (r[0], r[1]))


def _unmapped(app) -> list[str]:
    return sorted({f"{endpoint} <{argument}>" for endpoint, _m, rule in _object_routes(app)
                   for argument in rule.arguments if argument not in PARAMETERS and not _lookup(endpoint, argument)})


def _probes(endpoint: str, rule, w, role) -> list[tuple[str, dict]]:
    """Every combination of the other objects' ids for the rule's arguments (arguments named together, such as a
    programme and its intern, take the other area's pair), then a made-up id for each integer argument."""
    values = {argument: _lookup(endpoint, argument)(w, role) for argument in rule.arguments
              if argument not in PARAMETERS}
    probes = []
    for i in range(max(len(v) for v in values.values())):
        chosen = {argument: options[min(i, len(options) - 1)] for argument, options in values.items()}
        label = ", ".join(f"{argument}={name}" for argument, (name, _id) in chosen.items())
        probes.append((label, {**PARAMETERS, **{argument: value for argument, (_n, value) in chosen.items()}}))
    first = dict(probes[0][1])
    for argument in values:
        if f"<int:{argument}>" in rule.rule:
            probes.append((f"{argument}=missing", {**first, argument: MISSING_ID}))
    return [(label, {k: v for k, v in args.items() if k in rule.arguments}) for label, args in probes]


def _routes_at_collection():
    return [(endpoint, method) for endpoint, method, _rule in _object_routes(create_app("testing"))]


ROUTES = _routes_at_collection()
CASES = [(endpoint, method, role) for endpoint, method in ROUTES for role in ROLES]


# --- the world -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world_template(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("idor") / "world.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        w = _build_world()
        w.other_pledge_application = make_pledge_application(w.other_pledge, w.other_provider)
        w.other_user = make_user(Role.PROVIDER, organisation=w.other_provider, status="pending",
                                 name="Zedbury Probe Person")
        # distinctive names: a page that shows one of them has leaked the other organisation's data
        db.session.get(Organisation, w.other_provider.id).name = "Zedbury Probe Engineering Ltd"
        db.session.get(Organisation, w.other_school.id).name = "Zedbury Probe Academy"
        db.session.get(SchoolRequest, w.other_request.id).title = "Zedbury probe request"
        w.other_offer.title = "Zedbury probe offer"
        db.session.get(Pupil, w.other_pupil.id).display_name = "Zedbury Pupil Name"
        _nearby(w)
        db.session.commit()
        snapshot = _snapshot(w)
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    return path, snapshot


def _nearby(w) -> None:
    """Objects of other organisations in the matrix's own area (Burnley): a provider with a draft offer, a kit and
    a pending user; a school with a request, a proposed match, a pupil, a roster upload and a kit request; the
    provider's application to the pledge the matrix's provider applied to."""
    area = db.session.get(Organisation, w.provider_org.id).area
    w.nearby_provider = make_provider(area, name="Nearby Probe Works Ltd")
    w.nearby_school = make_school(area, name="Nearby Probe High", phase="all_through")
    w.nearby_offer = make_offer(w.nearby_provider, status="draft", title="Nearby Probe offer")
    w.nearby_kit = make_offer(w.nearby_provider, title="Nearby Probe kit", type="primary_kit", year_groups=(0, 1, 2),
                              sessions=1, per_session=1, capacity=5, kit_stock=5)
    w.nearby_request = make_request(w.nearby_school, title="Nearby Probe request")
    w.nearby_match = Match(offer_id=w.nearby_offer.id, request_id=w.nearby_request.id, area_id=area.id,
                           allocation=5, origin="engine")
    w.nearby_pupil = Pupil(school_id=w.nearby_school.id, reference="PNEARBY01", identifier_hash="idor-nearby",
                           year_group=9, display_name="Nearby Probe Pupil")
    w.nearby_upload = RosterUpload(token="idor-nearby-upload", school_id=w.nearby_school.id,
                                   filename="nearby-probe.csv", content=b"Adno,Year\n1,9\n")
    w.nearby_kit_request = KitRequest(offer_id=w.nearby_kit.id, school_id=w.nearby_school.id, area_id=area.id,
                                      class_name="Nearby Probe class", year_group=1, pupils=20)
    db.session.add_all([w.nearby_match, w.nearby_pupil, w.nearby_upload, w.nearby_kit_request])
    w.nearby_pledge_application = make_pledge_application(w.pledge, w.nearby_provider)
    w.nearby_user = make_user(Role.PROVIDER, organisation=w.nearby_provider, status="pending",
                              name="Nearby Probe Person")
    db.session.flush()


@pytest.fixture
def database(world_template, tmp_path) -> dict:
    """Overrides conftest's: a fresh copy of the world (SQLite only; access rules do not depend on the database)."""
    path = tmp_path / "test.db"
    shutil.copyfile(world_template[0], path)
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}


@pytest.fixture
def world(app, world_template):
    return world_template[1]


def _secrets(w, role) -> list[str]:
    """Strings only the other organisations' pages hold."""
    found = ["Zedbury", "Nearby Probe", w.nearby_pupil.reference, w.nearby_upload.token, w.other_pupil.reference,
             w.other_intern.reference, w.other_programme.name, w.other_pledge.title,
             "Preston Levy Payer Ltd", w.other_kit.title, w.other_kit_request.class_name, w.other_user.email,
             w.other_upload.token]
    if role == "provider":
        found += [w.pupil.reference]
    else:
        found += [w.draft_offer.title]
    return found


# --- the tests -------------------------------------------------------------------------------------------------

def test_every_object_route_is_probed(app):
    """Every route naming an object is in ROUTES (a new one is probed, or this fails naming its argument)."""
    assert _unmapped(app) == [], ("routes whose URL argument names an object this file cannot map to another "
                                  "organisation's: add it to OBJECTS (or, if public by design, PUBLIC_BY_DESIGN)")
    assert set(PUBLIC_BY_DESIGN) <= {rule.endpoint for rule in app.url_map.iter_rules()}, \
        "an exclusion names a route the app does not have"
    assert [(e, m) for e, m, _r in _object_routes(app)] == ROUTES
    print(f"probing {len(ROUTES)} route x method pairs as {len(ROLES)} roles")


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("endpoint", "method", "role"), CASES, ids=[f"{e}-{m}-{r}" for e, m, r in CASES])
def test_other_organisations_ids_are_refused(app, client, world, endpoint, method, role):
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    if _unmapped(app):
        pytest.fail(f"unmapped URL arguments: {_unmapped(app)}")
    secrets = _secrets(world, role)
    for label, arguments in _probes(endpoint, rule, world, role):
        with app.test_request_context():
            url = url_for(endpoint, **arguments)
        what = f"{method} {url} ({label}) as {role}"
        before = _fingerprint()
        _sign_in(client, world.users[role])
        response = client.open(url, method=method, data=POST_DATA if method == "POST" else None)
        assert _fingerprint() == before, f"{what}: the database changed (answered {response.status_code})"
        body = response.get_data(as_text=True)
        leaked = [s for s in secrets if s in body]
        assert not leaked, f"{what}: the page shows {leaked} (answered {response.status_code})"
        assert response.status_code in (403, 404), f"{what}: answered {response.status_code}"


def test_probes_name_other_organisations_objects(world_template):
    """The probe ids are really other organisations': none is the matrix's provider's or school's own."""
    w = world_template[1]
    assert w.other_offer.provider_id != w.provider_org.id and w.other_kit.provider_id != w.provider_org.id
    assert w.other_request.school_id != w.school.id and w.other_pupil.school_id != w.school.id
    assert w.other_pledge_application.applicant_id != w.provider_org.id
    assert w.other_user.organisation_id not in (w.provider_org.id, w.school.id)
    assert w.other_school.area_id != w.area_id


@pytest.mark.sqlite_only
def test_the_distinguishing_strings_show_where_they_are_allowed(client, world):
    """The leak check can see a leak: an admin, who may see every organisation's objects, is shown each string."""
    w = world
    pages = {
        f"/organisations/{w.other_provider.id}": ["Zedbury Probe Engineering Ltd"],
        f"/offers/{w.other_offer.id}": ["Zedbury probe offer"],
        f"/requests/{w.other_request.id}": ["Zedbury probe request", "Zedbury Probe Academy"],
        f"/internships/{w.other_programme.id}": [w.other_programme.name, w.other_intern.reference],
        f"/pledges/{w.other_pledge.id}": [w.other_pledge.title],
    }
    for url, strings in pages.items():
        _sign_in(client, w.users["admin"])
        response = client.get(url)
        assert response.status_code == 200, f"GET {url} as admin: {response.status_code}"
        body = response.get_data(as_text=True)
        assert [s for s in strings if s not in body] == [], f"GET {url} as admin"
