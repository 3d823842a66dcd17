"""Bad input (issue 7): hostile values posted to every form never cause a 500 and come back escaped; requests
without a valid CSRF token change nothing; oversized uploads are refused with the app's own page.

The forms are not listed by hand: every POST route in app.url_map is visited as a user who may reach it (chosen
from the access matrix's table), its field names are read from the form that posts to it, and Hypothesis fills
them. A route added later is fuzzed without editing this file; test_every_post_route_is_fuzzed fails if one is
left out. The world of objects (and the URLs built from it) is the access matrix's.
"""
import hashlib
import io
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import create_app
from portal.extensions import db
from portal.models import Organisation, PlacementFeedback, RosterUpload
from portal.vocab import Role
from tests.conftest import PerRequestUserClient
from tests.factories import make_user
from tests.test_access_matrix import ALLOW, MATRIX, _build_world, _snapshot

MARKER = "<script>alert(1)</script>"
FEEDBACK_TOKEN = "bad-input-feedback-token"  # a test link, not a secret
EXAMPLES_PER_ROUTE = 8

# POST routes not fuzzed, each with its reason. Everything else in app.url_map that accepts POST is.
NOT_FUZZED = {
    "auth.logout": "takes no input; signing out mid-run would turn the remaining examples into anonymous visits",
}

# Routes nobody in the matrix's world may use (only the pledger acts on its pledge): a user of the pledging
# levy payer, added to the world below.
LEVY_PAYER_ROUTES = {"pledges.create", "pledges.close", "pledges.approve", "pledges.reject", "pledges.use"}
ROLE_PREFERENCE = ("anonymous", "careers_lead", "provider", "coordinator", "admin")

HOSTILE = [
    MARKER, f'"><img src=x onerror=alert(1)>{MARKER}', "", " ", "\x00", "a\x00b", "\x1b[2J\x07\x08", "\r\n\t\x0b\x0c",
    "\u202eevil\u200b\ufeff", "😀" * 50, "-1", "0", "-0", "10000000000000", str(10**30), "NaN", "-inf", "1e309",
    "0x10", "1_000", "3.5", "0000-00-00", "9999-12-31", "2024-02-30", "0001-01-01", "24:61", "' OR 1=1 --",
    "../../etc/passwd", "%s%n{0}{{7*7}}", "x" * 10_001, MARKER * 600,
]
_controls = st.characters(min_codepoint=0, max_codepoint=0x1F)
# Hypothesis' text never holds unpaired surrogates: a browser cannot send them either (it replaces them).
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.text(alphabet=st.one_of(_controls, st.sampled_from("<>&\"'")), max_size=20),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.text(min_size=1, max_size=4).map(lambda s: (s * 10_001)[:12_000]),
    st.text(max_size=10).map(lambda s: f"{s}{MARKER}{s}"),
)


@dataclass
class FormField:
    name: str
    kind: str  # input type, "select" or "textarea"
    values: list[str] = field(default_factory=list)  # what the page offered: current value, options


@dataclass
class Form:
    method: str
    action: str  # path only
    fields: dict[str, FormField] = field(default_factory=dict)


class _Forms(HTMLParser):
    """Every <form> on a page: method, action (resolved against the page) and its named fields."""

    def __init__(self, page_url: str):
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: FormField | None = None

    def _field(self, name, kind) -> FormField:
        return self._form.fields.setdefault(name, FormField(name, kind))

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = urlsplit(urljoin(self.page_url, a.get("action", ""))).path
            self._form = Form(a.get("method", "get").lower(), action)
            self.forms.append(self._form)
        elif self._form is None:
            return
        elif tag in ("input", "button", "textarea") and a.get("name"):
            kind = a.get("type", "submit" if tag == "button" else "text") if tag != "textarea" else "textarea"
            f = self._field(a["name"], kind)
            if "value" in a:
                f.values.append(a["value"])
        elif tag == "select" and a.get("name"):
            self._select = self._field(a["name"], "select")
        elif tag == "option" and self._select is not None:
            self._select.values.append(a.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_on(page_url: str, html: str) -> list[Form]:
    parser = _Forms(page_url)
    parser.feed(html)
    return parser.forms


# --- the world: the access matrix's, plus a user of the levy payer and a known feedback link -----------------

@pytest.fixture(scope="module")
def world_template(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("bad_input") / "world.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        w = _build_world()
        payer = db.session.get(Organisation, w.pledge.provider_id)
        w.users["levy_payer"] = make_user(Role.PROVIDER, organisation=payer)
        feedback = db.session.get(PlacementFeedback, w.intern_feedback.id)
        feedback.token_hash = hashlib.sha256(FEEDBACK_TOKEN.encode()).hexdigest()
        db.session.commit()
        snapshot = _snapshot(w)
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    return path, snapshot


@pytest.fixture
def database(world_template, tmp_path) -> dict:
    """Overrides conftest's: a fresh copy of the world (SQLite only; bad input is handled before the database)."""
    path = tmp_path / "test.db"
    shutil.copyfile(world_template[0], path)
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}


@pytest.fixture
def world(app, world_template):
    return world_template[1]


def role_for(endpoint: str) -> str:
    if endpoint in LEVY_PAYER_ROUTES:
        return "levy_payer"
    expected = MATRIX[endpoint][2]
    return next(role for role in ROLE_PREFERENCE if expected[role] == ALLOW)


def path_for(endpoint: str, w) -> str:
    if endpoint == "feedback.form":
        return f"/feedback/{FEEDBACK_TOKEN}"
    return MATRIX[endpoint][1](w)


def post_endpoints(app) -> list[str]:
    return sorted({rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods})


# Pages holding forms the matrix's own pages do not show (a chosen offer type, a levy payer's account...).
EXTRA_PAGES = [
    ("provider", lambda w: f"/offers/new?provider_id={w.provider_org.id}&type=workplace_visit"),
    ("levy_payer", lambda w: "/levy"),
    ("levy_payer", lambda w: f"/pledges/{w.pledge.id}"),
    ("coordinator", lambda w: "/matches"),
    ("coordinator", lambda w: f"/matches/{w.proposed_match.id}"),
    ("careers_lead", lambda w: f"/matches/{w.proposed_match.id}"),
    ("provider", lambda w: f"/offers/{w.offer.id}"),
    ("careers_lead", lambda w: "/kits"),
]


def _sign_in(client, user) -> None:
    with client.session_transaction() as session:
        session.clear()
        if user is not None:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True


@pytest.fixture(scope="module")
def discovered(world_template, tmp_path_factory):
    """The forms of every page in the access matrix, read once as the user each page is visited as: which fields
    post to which path (POST forms) and which filter forms a page has (GET forms)."""
    path = tmp_path_factory.mktemp("bad_input_pages") / "pages.db"
    shutil.copyfile(world_template[0], path)
    w = world_template[1]
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    posts: dict[str, dict[str, FormField]] = {}
    gets: dict[str, tuple[str, str, dict[str, FormField]]] = {}  # page path -> (endpoint, role, fields)
    pages: list[tuple[str | None, str, str]] = []
    app.test_client_class = PerRequestUserClient  # signs each request in from its own cookie
    with app.app_context():
        client = app.test_client()
        for endpoint, (method, _path, expected) in MATRIX.items():
            if method != "GET" or (endpoint not in LEVY_PAYER_ROUTES and ALLOW not in expected.values()):
                continue
            pages.append((endpoint, role_for(endpoint), path_for(endpoint, w)))
        pages += [(None, role, path(w)) for role, path in EXTRA_PAGES]
        for endpoint, role, url in pages:
            _sign_in(client, w.users[role])
            response = client.get(url)
            if response.status_code != 200 or "html" not in response.content_type:
                continue
            for form in forms_on("http://localhost" + url, response.get_data(as_text=True)):
                if form.method == "post":
                    posts.setdefault(form.action, {}).update(form.fields)
                elif endpoint and form.action == urlsplit(url).path and form.fields:
                    gets.setdefault(form.action, (endpoint, role, form.fields))
        db.session.remove()
        db.engine.dispose()
    return posts, gets


def field_strategy(f: FormField):
    """What a hostile visitor might send for a field: anything, or (so the rest of the form can get past
    validation and reach the service) one of the values the page offered."""
    if f.name == "csrf_token":
        return st.sampled_from(f.values or [""])
    offered = [v for v in f.values if v]
    return st.one_of(st.sampled_from(offered), hostile_text) if offered else hostile_text


def _payload(data, fields: dict[str, FormField]) -> dict:
    payload = {}
    for name, f in sorted(fields.items()):
        value = data.draw(field_strategy(f), label=name)
        if f.kind == "file":
            payload[name] = (io.BytesIO(value.encode("utf-8")), "hostile.csv")
        else:
            payload[name] = value
    return payload


def _assert_safe(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: server error {response.status_code}"
    body = response.get_data(as_text=True)
    assert MARKER not in body, f"{what}: the marker came back unescaped"


# Names sent to every POST route besides its form's own fields (the only ones where the form did not show on any
# page of the world, in the states its objects are in).
GENERIC_FIELDS = {name: FormField(name, "text") for name in ("reason", "note", "version", "confirm", "action")}
FUZZ_SETTINGS = settings(max_examples=EXAMPLES_PER_ROUTE, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))

def _post_routes_of_the_app() -> list[str]:
    """Read at collection, so each POST route is its own test case."""
    return post_endpoints(create_app("testing"))


POST_ROUTES = _post_routes_of_the_app()
FUZZED = [e for e in POST_ROUTES if e not in NOT_FUZZED]


def test_every_post_route_is_fuzzed(app):
    """The fuzz below covers every POST route but the commented exclusions; a new route is covered (or fails)."""
    endpoints = post_endpoints(app)
    print(f"fuzzed {len(FUZZED)} POST routes:", ", ".join(FUZZED))
    assert set(NOT_FUZZED) <= set(endpoints), "an exclusion names a route that does not take POST"
    assert set(FUZZED) <= set(MATRIX), "POST routes without a row in the access matrix cannot be fuzzed"
    assert [e for e in endpoints if e not in NOT_FUZZED] == FUZZED
    assert len(FUZZED) == len(endpoints) - len(NOT_FUZZED)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("endpoint", FUZZED)
def test_hostile_form_input_never_errors_and_is_escaped(client, world, discovered, endpoint):
    role = role_for(endpoint)
    user = world.users[role]
    url = path_for(endpoint, world)
    fields = {**GENERIC_FIELDS, **discovered[0].get(urlsplit(url).path, {})}

    @FUZZ_SETTINGS
    @given(data=st.data())
    def fuzz(data):
        _sign_in(client, user)
        payload = _payload(data, fields)
        response = client.post(url, data=payload, follow_redirects=True)
        _assert_safe(response, f"POST {url} as {role}")

    fuzz()


@pytest.mark.sqlite_only
def test_hostile_query_strings_never_error_and_are_escaped(client, world, discovered):
    """Filter and search forms (method GET) take the same treatment in their query strings."""
    pages = discovered[1]
    print(f"fuzzed the GET forms of {len(pages)} pages:", ", ".join(endpoint for endpoint, _r, _f in pages.values()))
    assert len(pages) >= 10  # the filters of offers, requests, matches, pupils, audit, users...
    for url, (_endpoint, role, fields) in sorted(pages.items()):
        _fuzz_query(client, world.users[role], role, url, fields)


def _fuzz_query(client, user, role: str, url: str, fields: dict[str, FormField]) -> None:
    @FUZZ_SETTINGS
    @given(data=st.data())
    def fuzz(data):
        _sign_in(client, user)
        query = urlencode({name: data.draw(field_strategy(f), label=name) for name, f in sorted(fields.items())})
        response = client.get(f"{url}?{query}", follow_redirects=True)
        _assert_safe(response, f"GET {url} as {role}")

    fuzz()


# --- CSRF ---------------------------------------------------------------------------------------------------

def _fingerprint() -> str:
    """Every row of every table, hashed: any change at all shows."""
    digest = hashlib.sha256()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digest.update(f"{table.name}:{sorted(map(repr, rows))}".encode())
    return digest.hexdigest()


@pytest.fixture
def csrf_app(database):
    app = create_app("testing", {**database, "WTF_CSRF_ENABLED": True})
    app.test_client_class = PerRequestUserClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.sqlite_only
def test_posts_without_a_valid_csrf_token_are_refused_and_change_nothing(csrf_app, world, discovered):
    client = csrf_app.test_client()
    endpoints = post_endpoints(csrf_app)
    refused = []
    for endpoint in endpoints:
        role = role_for(endpoint)
        url = path_for(endpoint, world)
        fields = discovered[0].get(urlsplit(url).path) or GENERIC_FIELDS
        # what the form would send, but with the token missing, then wrong
        form = {name: (f.values[0] if f.values else "1") for name, f in fields.items() if name != "csrf_token"}
        before = _fingerprint()
        for token in (None, "wrong-token", "IjEyMyI.ZZZZZZ.not-signed-by-this-app"):
            _sign_in(client, world.users[role])
            data = dict(form) if token is None else {**form, "csrf_token": token}
            response = client.post(url, data=data)
            what = f"POST {url} as {role} with token {token!r}"
            assert response.status_code == 400, f"{what}: {response.status_code}"
            assert "Your form expired or was sent from elsewhere" in response.get_data(as_text=True), what
        assert _fingerprint() == before, f"POST {url} without a valid token changed the database"
        refused.append(endpoint)
    assert refused == endpoints  # every POST route, logout included


@pytest.mark.sqlite_only
def test_an_anonymous_post_without_a_token_goes_to_sign_in_or_is_refused(csrf_app, world):
    client = csrf_app.test_client()
    before = _fingerprint()
    for endpoint in post_endpoints(csrf_app):
        url = path_for(endpoint, world)
        response = client.post(url, data={"csrf_token": "wrong"})
        assert response.status_code in (302, 400, 403), f"anonymous POST {url}: {response.status_code}"
        if response.status_code == 302:
            assert "/login" in response.headers["Location"], f"anonymous POST {url} redirected elsewhere"
    assert _fingerprint() == before


# --- Oversized uploads --------------------------------------------------------------------------------------

@pytest.mark.sqlite_only
@pytest.mark.parametrize("csrf", [False, True], ids=["csrf-off", "csrf-on"])
def test_an_upload_over_the_limit_gets_a_clean_413_page(database, world, csrf):
    app = create_app("testing", {**database, "WTF_CSRF_ENABLED": csrf})
    app.test_client_class = PerRequestUserClient
    with app.app_context():
        client = app.test_client()
        _sign_in(client, world.users["careers_lead"])
        limit = app.config["MAX_CONTENT_LENGTH"]
        big = b"Adno,Year\n" + b"1234567,9\n" * (limit // 10 + 1)
        uploads = db.session.scalar(sa.select(sa.func.count()).select_from(RosterUpload))
        # the body is built here: the test client's own encoder spools a large one to a file it never closes
        body = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"roster.csv\"\r\n"
                b"Content-Type: text/csv\r\n\r\n" + big + b"\r\n--b0undary--\r\n")
        response = client.post("/pupils/import", data=body, content_type="multipart/form-data; boundary=b0undary")
        assert response.status_code == 413
        page = response.get_data(as_text=True)
        assert "That file is too large" in page and "Traceback" not in page
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterUpload)) == uploads
        db.session.remove()
        db.engine.dispose()


# --- Values PostgreSQL refuses ------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def any_backend_app(request, tmp_path, sqlite_template, smtp_server):
    """An empty database of each kind (this module's `database` is the SQLite world, so this is built here)."""
    from tests.conftest import PG_URL, pg_engine_options

    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        shutil.copyfile(sqlite_template, path)
        overrides = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    else:
        schema = request.getfixturevalue("pg_schema")
        overrides = {"SQLALCHEMY_DATABASE_URI": PG_URL, "SQLALCHEMY_ENGINE_OPTIONS": pg_engine_options(schema)}
    app = create_app("testing", {**overrides, "MAIL_PORT": smtp_server.port, "MAIL_SERVER": "127.0.0.1"})
    app.test_client_class = PerRequestUserClient
    with app.app_context():
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        if request.param == "postgresql":
            db.session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("email", ["nul\x00@example.org", "\x00", f"{MARKER}\x00@example.org"])
def test_a_nul_character_in_a_looked_up_value_is_a_bad_request_not_a_server_error(any_backend_app, email):
    """PostgreSQL refuses NUL in text (SQLite does not): the sign-in form looked the address up as typed and
    answered 500 on PostgreSQL. A value the database refuses is now a 400 with the app's page, nothing saved."""
    client = any_backend_app.test_client()
    response = client.post("/login", data={"email": email, "password": "whatever-password"})
    assert response.status_code in (200, 400), response.status_code
    assert MARKER not in response.get_data(as_text=True)
