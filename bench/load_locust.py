"""The load bench's locust driver (`python -m bench load --driver locust`): the fallback when wrk is not installed.

Runs in a child process of its own (`python -m bench.load --drive CONFIG RESULT`), because locust monkey-patches the
standard library with gevent on import. Every client signs in through the real login form (coordinators also with
their two-step code); then the phases of bench/load.py run one after another. Returns what bench.load_wrk.drive
returns: per phase and page the response times (ms) and failures, and each phase's duration.
"""
import sys
import time

from bench.load import (
    BARE,
    BROWSE_QUERIES,
    CLIENTS,
    LEADS_IN_MIX,
    PAGES,
    SIGN_IN,
    TICKED,
    TIMEOUT_S,
    attendance_body,
    csrf_of,
)


def drive(config: dict) -> dict:
    """Run the phases against config["host"]; returns raw timings per phase and page."""
    import gevent
    import pyotp
    from locust import FastHttpUser, task
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment

    state = {"phase": "signing in", "signed_in": 0, "records": {}, "failures": {}, "count": 0}
    proposals = list(config["proposals"])
    area_id = config["area_id"]

    def on_request(request_type, name, response_time, response_length, exception, **kwargs):
        phase = state["phase"]
        state["records"].setdefault(phase, {}).setdefault(name, []).append(response_time)
        state["count"] += 1
        if exception is not None:
            failures = state["failures"].setdefault(phase, {})
            failures[name] = failures.get(name, 0) + 1
            if failures[name] <= 3:
                print(f"  failure in {phase}: {name}: {exception}", file=sys.stderr)


    def expect(session, method: str, url: str, name: str, status: int, **kwargs):
        with session.request(method, url, name=name, allow_redirects=False, catch_response=True, **kwargs) as r:
            if r.status_code != status:
                where = r.headers.get("Location", "") if r.headers else ""
                r.failure(f"HTTP {r.status_code}, expected {status} {where}")
            else:
                r.success()
            return r

    class Client(FastHttpUser):
        host = config["host"]
        network_timeout = float(TIMEOUT_S)
        connection_timeout = 10.0
        number = 0

        def on_start(self):
            Client.number += 1
            self.n = Client.number - 1
            self.lead_account = config["leads"][self.n]
            self.coordinator_account = config["coordinators"][self.n]
            self.lead = self.client
            self.coordinator = FastHttpSession(base_url=self.host, request_event=self.environment.events.request,
                                               user=self, network_timeout=float(TIMEOUT_S), connection_timeout=10.0)
            self.attendance: dict[int, list[str]] = {}
            self._sign_in(self.lead, self.lead_account["email"], None)
            self._sign_in(self.coordinator, self.coordinator_account["email"], self.coordinator_account["secret"])
            self.lead_token = csrf_of(self.lead.get("/browse/offers", name="warm-up").text)
            self.coordinator_token = csrf_of(self.coordinator.get("/matches", name="warm-up").text)
            state["signed_in"] += 1

        def _sign_in(self, session, email: str, secret: str | None):
            token = csrf_of(session.get("/login", name="GET /login").text)
            response = expect(session, "POST", "/login", SIGN_IN, 302,
                              data={"csrf_token": token, "email": email, "password": config["password"]})
            if secret:
                token = csrf_of(session.get("/login/two-step", name="GET /login/two-step").text)
                response = expect(session, "POST", "/login/two-step", "POST /login/two-step", 302,
                                  data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
            if response.status_code != 302:
                raise RuntimeError(f"{email} could not sign in")

        # One page each; `state["phase"]` says which (the mix draws them by weight).
        def browse(self):
            query = BROWSE_QUERIES[int(time.monotonic() * 1000) % len(BROWSE_QUERIES)]
            expect(self.lead, "GET", "/browse/offers" + query, "GET /browse/offers", 200)

        def progress(self):
            expect(self.lead, "GET", "/progress", "GET /progress", 200)

        def _match(self) -> int | None:
            matches = self.lead_account["matches"]
            return matches[int(time.monotonic() * 1000) % len(matches)] if matches else None

        def attendance_form(self):
            match_id = self._match()
            if match_id is None:
                return None
            response = expect(self.lead, "GET", f"/matches/{match_id}/attendance", "GET /matches/<id>/attendance",
                              200)
            if response.status_code == 200:
                self.attendance[match_id] = [value for value, checked in TICKED.findall(response.text) if checked]
            return match_id

        def attendance_post(self, match_id: int | None = None):
            match_id = match_id or self._match()
            if match_id is None:
                return
            if match_id not in self.attendance:
                self.attendance_form()
            ticked = list(self.attendance.get(match_id, []))
            self.toggle = not getattr(self, "toggle", False)
            if self.toggle and len(ticked) > 1:  # a correction: every other time one pupil fewer than the form had
                ticked.pop()
            expect(self.lead, "POST", f"/matches/{match_id}/attendance", "POST /matches/<id>/attendance", 302,
                   data=attendance_body(self.lead_token, ticked),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})

        def queue(self):
            expect(self.coordinator, "GET", "/matches" + ("?page=2" if self.n % 3 == 0 else ""), "GET /matches",
                   200)

        def approve(self):
            match_id = proposals.pop() if proposals else config["proposals"][self.n]
            expect(self.coordinator, "POST", f"/matches/{match_id}/approve", "POST /matches/<id>/approve", 302,
                   data={"csrf_token": self.coordinator_token})

        def overview(self):
            expect(self.coordinator, "GET", f"/progress/areas/{area_id}", "GET /progress/areas/<id>", 200)

        def bare(self):
            expect(self.lead, "GET", "/healthz", BARE, 200)

        @task
        def step(self):
            phase = state["phase"]
            if phase == "signing in" or phase == "done":
                gevent.sleep(0.05)
            elif phase == "bare":
                self.bare()
            elif phase == "mix":
                self.mix()
                if config["think"]:  # a person reading the page before the next click
                    gevent.sleep(config["think"] * (0.5 + (time.monotonic() * 1000 % 1000) / 1000))
            else:
                SOLO[phase](self)

        def mix(self):
            """A careers lead (10 of the 16 clients) or a coordinator (6); one page per call."""
            self.turn = getattr(self, "turn", self.n) + 1
            if self.n < LEADS_IN_MIX:  # browse 4, own dashboard 3, record attendance (form and post) 1
                pick = self.turn % 8
                if pick < 4:
                    self.browse()
                elif pick < 7:
                    self.progress()
                else:
                    match_id = self.attendance_form()
                    if match_id is not None:
                        self.attendance_post(match_id)
            else:  # the queue 4, approve 1, the area's overview 1
                pick = self.turn % 6
                if pick < 4:
                    self.queue()
                elif pick < 5:
                    self.approve()
                else:
                    self.overview()

    SOLO = {"GET /browse/offers": Client.browse, "GET /progress": Client.progress,
            "GET /matches/<id>/attendance": Client.attendance_form,
            "POST /matches/<id>/attendance": Client.attendance_post, "GET /matches": Client.queue,
            "POST /matches/<id>/approve": Client.approve, "GET /progress/areas/<id>": Client.overview}

    env = Environment(user_classes=[Client], events=None)
    env.events.request.add_listener(on_request)

    def on_user_error(user_instance, exception, tb, **kwargs):  # an exception in a client's own code: an error too
        on_request("", "client error", 0.0, 0, exception)

    env.events.user_error.add_listener(on_user_error)
    runner = env.create_local_runner()
    runner.start(CLIENTS, spawn_rate=CLIENTS)
    deadline = time.monotonic() + 180
    while state["signed_in"] < CLIENTS:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {state['signed_in']} of {CLIENTS} clients signed in")
        gevent.sleep(0.1)
    durations = {}
    plan = [("bare", config["bare"])] + [("mix", config["mix"])] + [(label, config["solo"]) for label, _ in PAGES]
    for phase, seconds in plan:
        gevent.sleep(0.5)  # let the last phase's requests finish under their own name
        state["phase"] = phase
        state["count"] = 0
        started = time.monotonic()
        while time.monotonic() - started < seconds and state["count"] < config["max_requests"]:
            gevent.sleep(0.05)
        durations[phase] = time.monotonic() - started
        state["phase"] = "done"
    gevent.sleep(0.5)
    runner.quit()
    return {"records": state["records"], "failures": state["failures"], "durations": durations}
