"""PostgreSQL restarted in the middle of the load (issue 7, faults): requests fail cleanly and the app recovers alone.

tests/test_faults.py kills server connections; here a real PostgreSQL server goes down and comes back. The test
starts a private PostgreSQL 15 cluster (the shared one on 127.0.0.1:5432 is left alone: other tests use it), serves
the portal from it with gunicorn (2 workers, production settings, so the production pool with pool_pre_ping) and
drives it with signed-in clients through the real sign-in form: a careers lead browsing offers, a coordinator
reading the proposals queue and approving proposals, and a load balancer asking /healthz. Meanwhile the server is
stopped and held down until every page has answered 503, started again, then restarted with `pg_ctl restart -m fast`
and with `-m immediate` (a crash: recovery on start).

Every response must be a normal answer or the portal's own 503 page (never a 500, a dropped connection or a stack
trace); every page must work again without restarting gunicorn (same master and workers); every approval answered
302 must be in the database, and the offer's count of places taken must match the approvals that landed.

Needs the PostgreSQL 15 server binaries (/usr/lib/postgresql/15/bin). With CI=true their absence fails the test;
otherwise it is skipped.
"""
import itertools
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyotp
import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.conftest import CI

PG_BIN = Path(os.environ.get("FAULT_PG_BIN", "/usr/lib/postgresql/15/bin"))
REPO = Path(__file__).resolve().parent.parent
WAIT = 20  # seconds: a stuck step fails the test instead of hanging the run
WORKERS = 2  # gunicorn's
PROPOSALS = 200  # the approving client goes round them; a second approval of one answers 302 too
APP_URL_ENV = "FAULT_PG_RESTART_DATABASE_URL"
TRACES = ("traceback", "sqlalchemy", "psycopg", "operationalerror")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def wsgi():
    """gunicorn's app factory: production settings (and so the production pool) on the private cluster; http."""
    from portal import create_app

    return create_app("production", {"SQLALCHEMY_DATABASE_URI": os.environ[APP_URL_ENV],
                                     "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                                     "PREFERRED_URL_SCHEME": "http"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a private PostgreSQL cluster ---------------------------------------------------------------------------------

class Cluster:
    """A throwaway PostgreSQL cluster on a free loopback port, run as the postgres OS user when we are root."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="encpg"))  # short: the Unix socket path must fit in 107 bytes
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as = {}
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = {"user": "postgres", "group": "postgres", "extra_groups": []}

    def run(self, *args: str) -> None:
        result = subprocess.run([str(PG_BIN / args[0]), *args[1:]], cwd=self.dir, capture_output=True, text=True,
                                timeout=WAIT, **self._as)
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{self.log_tail()}"

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N", "-E", "UTF8", "--locale=C")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                       # fsync off: fast, and only an OS crash loses data. synchronous_commit stays on: a commit's
                       # WAL is written before the client hears of it, so a crash restart loses no approval.
                       "fsync = off\nfull_page_writes = off\nmax_connections = 40\n")
        self.pg_ctl("start")

    def pg_ctl(self, action: str, mode: str | None = None) -> None:
        """start, stop or restart; -w: returns when the server accepts connections (or is fully down)."""
        self.run("pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(WAIT),
                 *(["-m", mode] if mode else []))

    def started_at(self):
        engine = sa.create_engine(self.url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar_one()
        finally:
            engine.dispose()

    def log_tail(self) -> str:
        return self.log.read_text()[-2000:] if self.log.exists() else ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w"],
                           cwd=self.dir, capture_output=True, timeout=WAIT, **self._as)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).exists()]
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("the postgres OS user (PostgreSQL refuses to run as root)")
    if missing:
        message = (f"a PostgreSQL restart test needs its own server: missing {', '.join(missing)} in {PG_BIN} "
                   "(apt-get install -y postgresql-15, or set FAULT_PG_BIN)")
        if CI:
            pytest.fail(f"CI=true but {message}", pytrace=False)
        pytest.skip(message)
    cluster = Cluster()
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.destroy()


# --- the world and the server ------------------------------------------------------------------------------------

def _build_world(url: str) -> dict:
    """An offer with room for every proposal, PROPOSALS proposed matches, a careers lead and a coordinator with
    two-step sign-in (their role requires it)."""
    from portal import create_app
    from portal.extensions import db
    from portal.models import Match, utcnow
    from portal.vocab import Role
    from tests.factories import PASSWORD, make_area, make_offer, make_provider, make_request, make_school, make_user

    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db.create_all()
        area = make_area("Burnley")
        provider = make_provider(area, name="Acme Engineering")
        offer = make_offer(provider, title="Restart talk", sessions=1, per_session=PROPOSALS)
        school = make_school(area, name="Burnley High")
        lead = make_user(Role.CAREERS_LEAD, organisation=school)
        secret = pyotp.random_base32()
        coordinator = make_user(Role.COORDINATOR, areas=[area], totp_secret=secret, totp_enabled_at=utcnow())
        match_ids = []
        for _ in range(PROPOSALS):
            match = Match(offer=offer, request=make_request(school, pupils=1), area_id=area.id, allocation=1,
                          origin="engine")
            db.session.add(match)
            db.session.flush()
            match_ids.append(match.id)
        world = {"offer": offer.id, "lead": lead.email, "coordinator": coordinator.email, "secret": secret,
                 "password": PASSWORD, "matches": match_ids}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return world


class Gunicorn:
    """The portal under gunicorn on a free loopback port; its own and the app's log go to one file."""

    def __init__(self, url: str, log: Path, workers: int = WORKERS):
        bind = f"127.0.0.1:{_free_port()}"
        self.host = f"http://{bind}"
        self.log = log
        env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
        env.update({APP_URL_ENV: url, "SECRET_KEY": secrets.token_urlsafe(48),
                    "PUPIL_ID_KEY": secrets.token_urlsafe(48), "TRUSTED_PROXY_COUNT": "0",
                    "LOGIN_RATE_LIMIT": "1000 per minute"})
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", bind, "--error-logfile", "-",
                 "--no-control-socket", "--graceful-timeout", "5", "--timeout", "30",
                 "tests.test_fault_pg_restart:wsgi()"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while len(self.workers()) < workers or not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"gunicorn did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            return requests.get(self.host + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def workers(self) -> set[int]:
        """The worker processes' ids (Linux: /proc lists a process's children)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def server(cluster, tmp_path):
    world = _build_world(cluster.url)
    gunicorn = Gunicorn(cluster.url, tmp_path / "gunicorn.log")
    try:
        yield gunicorn, world
    finally:
        gunicorn.stop()


# --- clients -------------------------------------------------------------------------------------------------------

def _csrf(text: str) -> str:
    found = CSRF.search(text)
    assert found, "no csrf_token in the page"
    return found.group(1) or found.group(2)


def _sign_in(host: str, email: str, password: str, secret: str | None = None):
    """A requests session signed in through the real form (and the two-step form when the account has one)."""
    session = requests.Session()
    response = session.post(f"{host}/login", data={"csrf_token": _csrf(session.get(f"{host}/login").text),
                                                   "email": email, "password": password},
                            allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text[:500]
    if secret:
        token = _csrf(session.get(f"{host}/login/two-step").text)
        response = session.post(f"{host}/login/two-step", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()},
                                allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text[:500]
    return session


class Load:
    """One thread per page, each asking again and again until stopped; every answer recorded with the phase."""

    def __init__(self, gunicorn: Gunicorn, world: dict):
        host = gunicorn.host
        lead = _sign_in(host, world["lead"], world["password"])
        coordinator = _sign_in(host, world["coordinator"], world["password"], world["secret"])
        token = _csrf(coordinator.get(f"{host}/matches", timeout=10).text)  # its secret is now in the cookie
        approver = requests.Session()
        approver.cookies.update(coordinator.cookies)  # the same signed-in session: the same CSRF secret
        proposals = itertools.cycle(world["matches"])  # once all are used, approving again answers 302 too
        self.approved: list[int] = []  # match ids whose approval was answered 302
        self.records: list[tuple[str, str, int | None, str]] = []  # (phase, page, status or None, body)
        self.phase = "warm-up"
        self._lock = threading.Lock()
        self._stop = threading.Event()

        def approve(session):
            with self._lock:
                match_id = next(proposals)
            response = session.post(f"{host}/matches/{match_id}/approve", data={"csrf_token": token},
                                    allow_redirects=False, timeout=10)
            if response.status_code == 302:
                with self._lock:
                    self.approved.append(match_id)
            return response

        # page -> (session, how to ask, the status of a normal answer)
        self.pages = {
            "GET /healthz": (requests.Session(), lambda s: s.get(f"{host}/healthz", timeout=10), 200),
            "GET /browse/offers": (lead, lambda s: s.get(f"{host}/browse/offers", timeout=10,
                                                         allow_redirects=False), 200),
            "GET /matches": (coordinator, lambda s: s.get(f"{host}/matches", timeout=10, allow_redirects=False), 200),
            "POST /matches/<id>/approve": (approver, approve, 302),
        }
        self._threads = [threading.Thread(target=self._hammer, args=(page,), daemon=True) for page in self.pages]

    def _hammer(self, page: str) -> None:
        session, ask, _ = self.pages[page]
        while not self._stop.is_set():
            phase = self.phase
            try:
                response = ask(session)
                status, body = response.status_code, response.text
            except requests.RequestException as error:  # the server must answer, even with the database down
                status, body = None, repr(error)
            with self._lock:
                self.records.append((phase, page, status, body))
            time.sleep(0.005)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(WAIT)

    def ok(self, page: str, status: int | None) -> bool:
        return status == self.pages[page][2]

    def wait_until(self, phase: str, what: str, predicate) -> None:
        """Until every page has an answer in `phase` for which predicate(page, status) holds."""
        deadline = time.monotonic() + WAIT
        while True:
            with self._lock:
                seen = {page for p, page, status, _ in self.records if p == phase and predicate(page, status)}
            if seen == set(self.pages):
                return
            assert time.monotonic() < deadline, f"in {phase!r}, no {what} from {sorted(set(self.pages) - seen)}"
            time.sleep(0.05)


def _is_clean_503(page: str, status: int | None, body: str) -> bool:
    if status != 503:
        return False
    if page == "GET /healthz":
        return '"database":"error"' in body.replace(" ", "")
    return "The service is unavailable" in body and "The database could not be reached" in body


# --- the test ------------------------------------------------------------------------------------------------------

def test_postgresql_restarted_under_load_gives_clean_503s_and_the_app_recovers_without_a_restart(cluster, server):
    gunicorn, world = server
    master, workers = gunicorn.process.pid, gunicorn.workers()
    load = Load(gunicorn, world)
    load.start()
    try:
        load.wait_until("warm-up", "normal answer", load.ok)
        started = [cluster.started_at()]

        # Down and held down until every page has said so, then up again.
        load.phase = "down"
        cluster.pg_ctl("stop", "fast")
        load.wait_until("down", "503", lambda page, status: status == 503)
        load.phase = "starting"
        cluster.pg_ctl("start")
        load.phase = "up again"
        load.wait_until("up again", "normal answer", load.ok)
        started.append(cluster.started_at())

        # Restarted in one go: a clean shutdown, then a crash (immediate: no shutdown checkpoint, recovery on start).
        for mode in ("fast", "immediate"):
            load.phase = f"restart -m {mode}"
            cluster.pg_ctl("restart", mode)
            load.phase = f"after restart -m {mode}"
            load.wait_until(load.phase, "normal answer", load.ok)
            started.append(cluster.started_at())
    finally:
        load.stop()

    log = gunicorn.log.read_text(errors="replace")
    first_trace = log[max(0, log.find("Traceback") - 300):][:6000] if "Traceback" in log else log[-3000:]
    assert len(set(started)) == len(started), f"the server did not restart each time: {started}"
    # Every answer, in every phase, was normal or the portal's own 503 page.
    bad = [(phase, page, status, body[:300]) for phase, page, status, body in load.records
           if not (load.ok(page, status) or _is_clean_503(page, status, body))
           or any(trace in body.lower() for trace in TRACES)]
    assert bad == [], f"{len(bad)} bad of {len(load.records)} answers, first: {bad[:5]}\ngunicorn log:\n{first_trace}"
    assert "unhandled error" not in log and "Traceback" not in log, first_trace
    failed = {page for phase, page, status, _ in load.records if phase == "down" and status == 503}
    assert failed == set(load.pages)  # the outage really was seen by every page

    # Recovered without a restart: the same gunicorn master and workers; every page answers at once.
    assert gunicorn.process.poll() is None and gunicorn.workers() == workers and gunicorn.process.pid == master
    for page, (session, ask, expected) in load.pages.items():
        answers = [ask(session).status_code for _ in range(2 * WORKERS)]
        assert answers == [expected] * len(answers), (page, answers)

    # What was answered 302 is in the database, and nothing else moved the places taken.
    engine = sa.create_engine(cluster.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            approved = set(conn.execute(sa.text("SELECT id FROM matches WHERE status = 'approved'")).scalars())
            allocated = conn.execute(sa.text("SELECT allocated FROM offers WHERE id = :id"),
                                     {"id": world["offer"]}).scalar_one()
    finally:
        engine.dispose()
    assert set(load.approved) <= approved
    assert allocated == len(approved)
    assert len(load.approved) >= 2 * WORKERS + 1  # approvals landed before and after the restarts
    assert requests.get(f"{gunicorn.host}/healthz", timeout=10).json() == {"status": "ok", "database": "ok"}
