"""A web worker does not load what only a matching run or a rota needs.

numpy and OR-Tools' min-cost flow (the matching engine), and OR-Tools' CP-SAT with pandas (the internship rota),
took each gunicorn worker from 85 MB to 150 MB and its start from about 1.65 s to 2 s, though a worker never
solves either (matching runs are jobs; a rota is built only when a coordinator asks). They are imported on the
first solve (portal/matching/__init__.py, portal/matching/rota.py). Checked in a fresh interpreter, since this test
session's has them already.
"""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "pandas", "ortools.graph.python.min_cost_flow", "ortools.sat.python.cp_model")

WORKER = """
import json, sys
from portal import create_app
app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
with app.app_context():
    from portal.extensions import db
    db.create_all()
client = app.test_client()
statuses = [client.get(path).status_code for path in ("/healthz", "/login", "/browse/offers", "/matches")]
loaded = [name for name in sys.argv[1:] if name in sys.modules]
if sys.argv[1] == "--solve":  # the control: a solve does load them
    from datetime import date
    from portal.matching import Instance, rota, solve
    solve(Instance(today=date(2025, 1, 15), offers=(), requests=(), schools=()))
    rota.solve([], [])
    loaded = [name for name in sys.argv[2:] if name in sys.modules]
print(json.dumps({"statuses": statuses, "loaded": loaded}))
"""


def _run_worker(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_worker_serves_pages_without_the_solvers_libraries():
    outcome = _run_worker(*HEAVY)
    assert outcome["statuses"][0] == 200  # the app really served (the others redirect to sign in)
    assert outcome["loaded"] == []


def test_the_first_solve_loads_them():
    # The control: the same check does see the libraries once the engine and the rota have solved something.
    outcome = _run_worker("--solve", *HEAVY)
    assert sorted(outcome["loaded"]) == sorted(HEAVY)
