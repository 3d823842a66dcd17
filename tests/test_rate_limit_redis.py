"""Sign-in rate limits beyond one process: two real app servers sharing one Redis count together, and a dead
Redis degrades to per-process counting instead of failing sign-in.

The servers are separate Python processes (not threads), each configured only through the environment
(`REDIS_URL`, `REDIS_KEY_PREFIX`, `LOGIN_RATE_LIMIT`, `DATABASE_URL`), exactly as gunicorn workers or hosts
would be. Each run writes its Redis keys under a unique prefix and deletes them afterwards. Redis comes from
TEST_REDIS_URL (default redis://127.0.0.1:6379/0); without it the Redis test is skipped, except with CI=true,
where it fails.
"""
import os
import select
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import CI

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = "3 per minute"
START_TIMEOUT_S = 30

# One app server: the real factory, the development config read from the environment, real HTTP on a free
# loopback port, printed once it listens. CSRF is off because the test posts without a form page first.
WORKER = """
import sys
from werkzeug.serving import make_server
from portal import create_app
from portal.extensions import db

app = create_app("development", {"WTF_CSRF_ENABLED": False})
if sys.argv[1] == "create-tables":
    with app.app_context():
        db.create_all()
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


def _redis_or_none() -> redis.Redis | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        return None
    return client


@pytest.fixture
def shared_redis() -> Iterator[tuple[redis.Redis, str]]:
    """A reachable Redis and a key prefix no one else uses; every key under it is deleted afterwards."""
    client = _redis_or_none()
    if client is None:
        message = f"Redis is not reachable at {REDIS_URL} (set TEST_REDIS_URL or start redis-server)"
        if CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    prefix = f"encounters-test-{uuid.uuid4().hex}"
    try:
        yield client, prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()


class Workers:
    """App server processes started for one test; all stopped (and their logs kept) at the end."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.tmp_path = tmp_path
        self.env = env
        self.processes: list[subprocess.Popen] = []

    def start(self, *, create_tables: bool = False) -> str:
        """Start one server; return its base URL once it listens."""
        log = (self.tmp_path / f"worker-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, "create-tables" if create_tables else "serve"],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True,
        )
        log.close()
        self.processes.append(process)
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        line = process.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            pytest.fail(f"app server did not start: {self.logs()}")
        return f"http://127.0.0.1:{line}"

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.tmp_path.glob("worker-*.log")))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., "Workers"]]:
    """workers(**env) -> Workers configured with the environment a deployment would set."""
    started: list[Workers] = []

    def make(**settings: str) -> Workers:
        env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "REDIS_KEY_PREFIX"}}
        env.update({
            "PORTAL_ENV": "development",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
            "LOGIN_RATE_LIMIT": LIMIT,
            "PYTHONDONTWRITEBYTECODE": "1",
            **settings,
        })
        pool = Workers(tmp_path, env)
        started.append(pool)
        return pool

    yield make
    for pool in started:
        pool.stop()


def failed_sign_in(base_url: str) -> tuple[int, str]:
    """POST a wrong password to /login; the status and page."""
    data = urllib.parse.urlencode({"email": "nobody@example.org", "password": "a wrong guess"}).encode()
    request = urllib.request.Request(f"{base_url}/login", data=data, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_two_workers_share_one_sign_in_limit_through_redis(shared_redis, workers):
    """Attempts alternate between two processes: the limit (3) is reached across both, not per process."""
    client, prefix = shared_redis
    pool = workers(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=prefix)
    first = pool.start(create_tables=True)
    second = pool.start()

    answers = [failed_sign_in(url) for url in (first, second, first, second, first)]

    statuses = [status for status, _ in answers]
    assert statuses == [200, 200, 200, 429, 429], pool.logs()  # the second worker saw one attempt, yet refuses
    assert "Too many attempts" in answers[3][1]
    assert "Traceback" not in pool.logs()
    assert any(client.scan_iter(match=f"{prefix}:*")), "the counters should live in Redis under the prefix"


def test_unreachable_redis_falls_back_to_counting_per_process(workers):
    """Redis down: sign-in still answers (no 500) and each process still limits on its own."""
    with socket.socket() as probe:  # a loopback port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    pool = workers(REDIS_URL=f"redis://127.0.0.1:{dead_port}/0", REDIS_KEY_PREFIX="encounters-test-dead")
    server = pool.start(create_tables=True)

    statuses = [failed_sign_in(server)[0] for _ in range(4)]

    assert statuses == [200, 200, 200, 429], pool.logs()
    assert "Traceback" not in pool.logs()
