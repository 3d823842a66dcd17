"""The load bench's wrk driver (`python -m bench load`, the default when `wrk` is on PATH).

wrk is C and epoll: it costs the 2-core machine the server shares about a tenth of what locust does. The clients sign
in here, in Python, through the real login form (coordinators also with their two-step code); then each phase is one
wrk run with one thread and one connection per client (bench/load_wrk.lua), replaying the mix of bench/load.py. Returns
what bench.load_locust.drive returns: per phase and page the response times (ms) and failures, and each phase's
duration.
"""
import http.cookiejar
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from bench.load import BARE, BROWSE_QUERIES, CLIENTS, LEADS_IN_MIX, PAGES, TICKED, TIMEOUT_S, attendance_body, csrf_of

# The Lua script's name for each page; a phase is "mix" or one of these.
WRK_ACTIONS = {BARE: "bare", "GET /browse/offers": "browse", "GET /progress": "progress",
               "GET /matches/<id>/attendance": "attendance_form", "POST /matches/<id>/attendance": "attendance_post",
               "GET /matches": "queue", "POST /matches/<id>/approve": "approve",
               "GET /progress/areas/<id>": "overview"}
WRK_SCRIPT = Path(__file__).resolve().parent / "load_wrk.lua"

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 302 comes back as an HTTPError, its cookies already taken


class _Browser:
    """One signed-in session for the wrk driver's sign-ins: a cookie jar, redirects not followed."""

    def __init__(self, host: str):
        self.host = host
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(urllib.request.Request(self.host + path, data=body, method=method),
                                  timeout=TIMEOUT_S) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode(errors="replace")

    def expect(self, method: str, path: str, status: int, data: dict | None = None) -> str:
        got, text = self.request(method, path, data)
        if got != status:
            raise RuntimeError(f"{method} {path}: HTTP {got}, expected {status}")
        return text

    def sign_in(self, email: str, password: str, secret: str | None) -> None:
        import pyotp

        token = csrf_of(self.expect("GET", "/login", 200))
        self.expect("POST", "/login", 302, {"csrf_token": token, "email": email, "password": password})
        if secret:
            token = csrf_of(self.expect("GET", "/login/two-step", 200))
            self.expect("POST", "/login/two-step", 302, {"csrf_token": token, "code": pyotp.TOTP(secret).now()})

    def cookies(self) -> dict[str, str]:
        return {cookie.name: cookie.value for cookie in self.jar}


def _sign_in_wrk_client(config: dict, n: int) -> dict:
    """Client n's two sessions, their CSRF tokens, and its lead's matches with the attendance ticks as the form
    shows them: what bench/load_wrk.lua replays."""
    lead, coordinator = _Browser(config["host"]), _Browser(config["host"])
    lead_account, coordinator_account = config["leads"][n], config["coordinators"][n]
    try:
        lead.sign_in(lead_account["email"], config["password"], None)
        coordinator.sign_in(coordinator_account["email"], config["password"], coordinator_account["secret"])
        lead_token = csrf_of(lead.expect("GET", "/browse/offers", 200))
        coordinator_token = csrf_of(coordinator.expect("GET", "/matches", 200))
        matches = []
        for match_id in lead_account["matches"]:
            path = f"/matches/{match_id}/attendance"
            ticked = [value for value, checked in TICKED.findall(lead.expect("GET", path, 200)) if checked]
            matches.append({"path": path, "full": attendance_body(lead_token, ticked),
                            "fewer": attendance_body(lead_token, ticked[:-1] if len(ticked) > 1 else ticked)})
    except RuntimeError as error:
        raise RuntimeError(f"client {n + 1} could not sign in: {error}") from error
    return {"lead_cookies": lead.cookies(), "coordinator_cookies": coordinator.cookies(), "matches": matches,
            "queue": "/matches" + ("?page=2" if n % 3 == 0 else ""),
            "approve_body": urlencode({"csrf_token": coordinator_token}), "fallback": config["proposals"][n]}


def _lua(value) -> str:
    """A Python value as a Lua literal (the wrk script reads its data with `dofile`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(char if " " <= char <= "~" and char not in '"\\'
                             else "".join(f"\\{byte:03d}" for byte in char.encode()) for char in value) + '"'
    if isinstance(value, list | tuple):
        return "{" + ",".join(_lua(item) for item in value) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"[{_lua(str(key))}]={_lua(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


def drive(config: dict) -> dict:
    """Run the phases against config["host"] with wrk, one run per phase; returns what `_drive` returns.

    The sign-ins happen here, in Python, before wrk starts; each wrk thread (`-t16 -c16`) is then one client with
    its own cookies, replaying `_drive`'s page choices and weights (bench/load_wrk.lua). Approvals take distinct
    proposals: the unused ones are split among the threads that approve in a phase, and each run reports how many
    of its share every thread took. A request with no response (the connection broke) or slower than the timeout is
    counted against its page, as is any socket error wrk reports beyond those.
    """
    wrk = shutil.which("wrk")
    if not wrk:
        raise RuntimeError("wrk is not on PATH (use --driver locust)")
    if config.get("think"):
        raise RuntimeError("the wrk driver does not pause between pages (use --driver locust): see bench/load.py")
    with ThreadPoolExecutor(max_workers=4) as pool:
        clients = list(pool.map(lambda n: _sign_in_wrk_client(config, n), range(CLIENTS)))
    for n, client in enumerate(clients):
        if not client["matches"]:
            print(f"  client {n + 1}: its careers lead has no recorded matches to take attendance for",
                  file=sys.stderr)
    labels = {action: label for label, action in WRK_ACTIONS.items()}
    unused = list(reversed(config["proposals"]))  # the order `_drive` pops them in
    records, failures, durations, cpu = {}, {}, {}, {}
    plan = [("bare", config["bare"])] + [("mix", config["mix"])] + [(label, config["solo"]) for label, _ in PAGES]
    with tempfile.TemporaryDirectory(prefix="encounters-load-wrk-") as folder:
        data_file, out_file = Path(folder) / "phase.lua", Path(folder) / "result.json"
        for phase, seconds in plan:
            action = phase if phase in {"mix", "bare"} else WRK_ACTIONS[phase]
            approvers = (list(range(LEADS_IN_MIX, CLIENTS)) if action == "mix"
                         else list(range(CLIENTS)) if action == "approve" else [])
            for n, client in enumerate(clients):
                client["proposals"] = unused[approvers.index(n)::len(approvers)] if n in approvers else []
            data_file.write_text("return " + _lua({
                "action": action, "labels": labels, "queries": BROWSE_QUERIES, "leads_in_mix": LEADS_IN_MIX,
                "area_id": config["area_id"],
                "timeout_ms": TIMEOUT_S * 1000, "max_per_thread": math.ceil(config["max_requests"] / CLIENTS),
                "clients": clients}) + "\n")
            out_file.unlink(missing_ok=True)
            time.sleep(0.5)  # let the last phase's abandoned requests finish
            before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
            run = subprocess.run(
                [wrk, "-t", str(CLIENTS), "-c", str(CLIENTS), "-d", f"{math.ceil(seconds)}s", "--timeout",
                 f"{TIMEOUT_S}s", "-s", str(WRK_SCRIPT), config["host"] + "/"],
                env={**os.environ, "BENCH_LOAD_WRK_DATA": str(data_file), "BENCH_LOAD_WRK_OUT": str(out_file)},
                capture_output=True, text=True, timeout=seconds + 120)
            ended, after = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
            if run.returncode != 0 or not out_file.exists():
                raise RuntimeError(f"wrk failed in phase {phase} (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
            out = json.loads(out_file.read_text())
            cpu[phase] = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, ended - started)
            phase_records, phase_failures = records.setdefault(phase, {}), failures.setdefault(phase, {})
            attributed, firsts, lasts, used = 0, [], [], set()
            threads = sorted(out["threads"], key=lambda thread: thread["id"])
            for thread in threads:
                for label, times in (thread.get("records") or {}).items():
                    phase_records.setdefault(label, []).extend(times)
                for label, count in (thread.get("failures") or {}).items():
                    phase_failures[label] = phase_failures.get(label, 0) + count
                for note in thread.get("notes") or []:
                    print(f"  failure in {phase}: {note}", file=sys.stderr)
                if thread.get("pending") and ended - thread["since"] >= TIMEOUT_S:  # stuck when the run ended
                    phase_failures[thread["pending"]] = phase_failures.get(thread["pending"], 0) + 1
                    print(f"  failure in {phase}: {thread['pending']}: no response in {TIMEOUT_S} s",
                          file=sys.stderr)
                attributed += thread["lost"] + thread["slow"]
                firsts += [thread["first"]] if "first" in thread else []
                lasts += [thread["last"]] if "last" in thread else []
                used.update(clients[thread["id"]]["proposals"][:thread["used"]])
            errors = out["errors"]
            unexplained = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"] - attributed
            if unexplained > 0:  # socket errors no request could be blamed for (a failed connect): errors too
                label = {"mix": "socket errors (wrk)", "bare": BARE}.get(phase, phase)
                phase_failures[label] = phase_failures.get(label, 0) + unexplained
                print(f"  failure in {phase}: wrk's socket errors {errors}", file=sys.stderr)
            durations[phase] = max(lasts) - min(firsts) if firsts and lasts else float(seconds)
            unused = [match_id for match_id in unused if match_id not in used]
    total_cpu, total_wall = sum(c for c, _ in cpu.values()), sum(w for _, w in cpu.values())
    print(f"load generator: wrk, {total_cpu:.1f} s of CPU in {total_wall:.0f} s ({total_cpu / total_wall:.0%} of a "
          f"core; in the mix {cpu['mix'][0] / cpu['mix'][1]:.0%})")
    return {"records": records, "failures": failures, "durations": durations}
