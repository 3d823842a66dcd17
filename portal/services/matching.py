"""Running the matching engine on an area: load the database into the engine's Instance, solve, store proposals.

The engine (portal.matching) is pure; this service is the only place that reads its input from the database and
writes its output back. `build_instance` is the engine's exact input, so `flask match export` can write it to a
file and `flask match solve` can re-run it offline (docs/matching.md, "The instance format").

A run replaces the area's earlier unapproved engine proposals, in one write transaction: those it does not make again
move to cancelled (with their history row) and the new proposals are stored, each with its first history row; those
it makes again stay, brought up to date (a new allocation with a history row of its own). How is
services.matching_store's.
"""
import functools
import json
import multiprocessing
import os
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Text, case, cast, func, select

from portal import policy
from portal.catalogue import OFFER_TYPES, Unit
from portal.errors import NotFound
from portal.extensions import db
from portal.matching import (
    Held,
    History,
    Instance,
    OfferInput,
    Paired,
    RequestInput,
    Result,
    SchoolInput,
    YearFigures,
    solve,
)
from portal.matching.gc_pause import gc_paused
from portal.matching.model import NEED_BELOW_FOUR, NEED_NO_CONTACTS
from portal.matching.weights import Weights
from portal.models import (
    HOLDS_CAPACITY,
    LIVE,
    Area,
    Match,
    MatchStatus,
    Offer,
    OfferStatus,
    Organisation,
    Pupil,
    PupilStatus,
    RequestStatus,
    SchoolRequest,
    SchoolYearSize,
    User,
)
from portal.services import auto_approval, counting, matching_store
from portal.services.db_locks import hold_matching_runs, write_transaction
from portal.vocab import SECTORS, Role

LIVE_REQUEST = (RequestStatus.OPEN, RequestStatus.PARTLY_MATCHED)
# Earlier matches that count for variety: those holding capacity, and proposals still waiting.
HISTORY_STATUSES = tuple(HOLDS_CAPACITY | {MatchStatus.PROPOSED})


def area_named(name: str) -> Area:
    """The area with this name (exactly, ignoring surrounding spaces)."""
    area = db.session.scalar(select(Area).where(Area.name == name.strip()))
    if area is None:
        raise NotFound(f"There is no area called {name.strip()!r}.")
    return area


def all_areas() -> list[Area]:
    """Every area, by name (a run over the whole region)."""
    return list(db.session.scalars(select(Area).order_by(Area.name)))


def area_weights(area: Area) -> Weights:
    """The defaults with the area's overrides laid over them (set on the admin's area page)."""
    return Weights.from_dict(area.matching_weights or {})


def build_instance(area: Area, *, today: date | None = None) -> Instance:
    """The engine's input for one area, read with a handful of set-based queries (none per row)."""
    return _read(area, today or date.today()).instance()


@dataclass(frozen=True)
class _Rows:
    """An area's instance as the database gives it: plain rows, read in the run's transaction (_read). `instance()`
    builds the engine's objects from them, pure Python: a run does that in the forked solver, so the process that
    reads and stores every area does not."""

    today: date
    label: str
    weights: Weights
    target_text: str  # the area's contact target in words, for the reasons (counting.target_text)
    requests: list  # (id, school_id, area_id, wanted_types, sectors, year_mask, pupils, starts_on, ends_on,
    #                  deliveries, created_at, max_travel_miles, keep_together); the lists as JSON text
    offers: list  # (id, provider_id, area_id, type, sector, delivery, capacity, allocated, per_session, starts_on,
    #               ends_on, year_mask, max_travel_miles, open_to_all_areas, latitude, longitude)
    held: list  # (request_id, school_id, offer_id, units, live) of matches holding capacity or people's proposals
    #             waiting; live 1 where one of them is still live (the request and offer are paired)
    pupils: list  # (school_id, year_group, pupils, below target, at risk) of schools with a roster
    year_sizes: list  # (school_id, year_group, pupils) as the school gave them
    places: list  # (school_id, latitude, longitude)
    history: list  # (school_id, provider_id, matches)

    def instance(self) -> Instance:
        units = {code: kind.unit.value for code, kind in OFFER_TYPES.items()}
        offers = tuple(  # rows unpacked as tuples: attribute access on each row costs more than the engine's arrays
            OfferInput(
                id=id_, provider_id=provider_id, area_id=area_id, type=type_, sector=sector, delivery=delivery,
                capacity=capacity, allocated=allocated, unit=units.get(type_, Unit.PUPILS.value),
                per_session=per_session, starts_on=starts_on, ends_on=ends_on, year_mask=year_mask,
                latitude=latitude, longitude=longitude, max_travel_miles=max_travel_miles,
                open_to_all_areas=bool(open_to_all_areas),
            )
            for (id_, provider_id, area_id, type_, sector, delivery, capacity, allocated, per_session, starts_on,
                 ends_on, year_mask, max_travel_miles, open_to_all_areas, latitude, longitude) in self.offers
        )
        held_by_request: dict[int, int] = defaultdict(int)
        held_by_pair: dict[tuple[int, int], int] = defaultdict(int)
        paired = []
        for request_id, school_id, offer_id, held_units, live in self.held:
            held_by_request[request_id] += int(held_units)
            held_by_pair[(school_id, offer_id)] += int(held_units)
            if live:
                paired.append(Paired(request_id, offer_id))
        requests = tuple(
            RequestInput(
                id=id_, school_id=school_id, area_id=area_id, wanted_types=_codes(wanted_types),
                sectors=_codes(sectors), year_mask=year_mask, pupils=pupils, starts_on=starts_on, ends_on=ends_on,
                deliveries=_codes(deliveries), created_on=created_at.date(), held=held_by_request.get(id_, 0),
                max_travel_miles=max_travel_miles, keep_together=bool(keep_together),
            )
            for (id_, school_id, area_id, wanted_types, sectors, year_mask, pupils, starts_on, ends_on, deliveries,
                 created_at, max_travel_miles, keep_together) in self.requests
        )
        school_ids = {r.school_id for r in requests}
        schools, any_roster = self._schools(school_ids)
        offer_ids = {o.id for o in offers}
        provider_ids = {o.provider_id for o in offers}
        held = tuple(Held(school_id, offer_id, n) for (school_id, offer_id), n in sorted(held_by_pair.items())
                     if school_id in school_ids and offer_id in offer_ids and n > 0)
        history = tuple(History(s, p, int(n)) for s, p, n in sorted(self.history)
                        if s in school_ids and p in provider_ids and n > 0)
        return Instance(
            today=self.today, offers=offers, requests=requests, schools=schools, history=history, held=held,
            paired=tuple(sorted(paired, key=lambda p: (p.request_id, p.offer_id))),
            need_basis=NEED_BELOW_FOUR if any_roster else NEED_NO_CONTACTS, sector_labels=dict(SECTORS),
            weights=self.weights, type_labels={code: kind.label for code, kind in OFFER_TYPES.items()},
            label=self.label, target_text=self.target_text,
        )

    def _schools(self, school_ids: set[int]) -> tuple[tuple[SchoolInput, ...], bool]:
        """The schools with live requests: their location and, per year group, their pupils, how many are below
        the area's target and how many of those are at risk. A school with a roster (4/6) is read from its
        pupils' kept contact totals; one without falls back to its pupils per year group, none of whom has a
        recorded contact. Also says whether any school had a roster (the instance's need basis)."""
        years: dict[int, list[YearFigures]] = defaultdict(list)
        for school_id, year, pupils, below, at_risk in self.pupils:
            years[school_id].append(YearFigures(year=year, pupils=int(pupils), below_target=int(below or 0),
                                                at_risk=int(at_risk or 0)))
        with_roster = set(years)
        for school_id, year, pupils in self.year_sizes:
            if school_id not in with_roster:
                years[school_id].append(YearFigures(year=year, pupils=pupils, below_target=pupils, at_risk=0))
        schools = tuple(SchoolInput(id=id_, latitude=latitude, longitude=longitude, years=tuple(years[id_]))
                        for id_, latitude, longitude in self.places if id_ in school_ids)
        return schools, bool(with_roster & school_ids)


def _read(area: Area, today: date) -> _Rows:
    """The rows of the area's instance (see _Rows), read with a handful of set-based queries (none per row)."""
    read = matching_store.reader()
    live = (SchoolRequest.area_id == area.id, SchoolRequest.status.in_(LIVE_REQUEST), SchoolRequest.ends_on >= today)
    requests = read(
        select(SchoolRequest.id, SchoolRequest.school_id, SchoolRequest.area_id, _text(SchoolRequest.wanted_types),
               _text(SchoolRequest.sectors), SchoolRequest.year_mask, SchoolRequest.pupils, SchoolRequest.starts_on,
               SchoolRequest.ends_on, _text(SchoolRequest.deliveries), SchoolRequest.created_at,
               SchoolRequest.max_travel_miles, SchoolRequest.keep_together)
        .join(Organisation, Organisation.id == SchoolRequest.school_id)
        .where(*live, Organisation.area_id == area.id)
        .order_by(SchoolRequest.id)
    ).all()
    offers = read(
        select(Offer.id, Offer.provider_id, Offer.area_id, Offer.type, Offer.sector, Offer.delivery, Offer.capacity,
               Offer.allocated, Offer.per_session, Offer.starts_on, Offer.ends_on, Offer.year_mask,
               Offer.max_travel_miles, Offer.open_to_all_areas, Organisation.latitude, Organisation.longitude)
        .join(Organisation, Organisation.id == Offer.provider_id)
        .where(Offer.status == OfferStatus.PUBLISHED, Offer.capacity - Offer.allocated > 0, Offer.ends_on >= today,
               (Offer.area_id == area.id) | Offer.open_to_all_areas.is_(True),
               # only types a live request asks for: no other offer can pair (internship weeks, say, which
               # schools cannot ask for, or a type nobody in the area wants now)
               Offer.type.in_(sorted({code for row in requests for code in _codes(row[3])})))
        .order_by(Offer.id)
    ).all()
    # What a request already has, per request and per (school, offer), in one grouped query: matches holding
    # capacity, and proposals of people's still waiting for a coordinator (a school asked for that offer, the
    # provider offered, or a coordinator took an engine proposal in hand) — the engine does not propose those
    # pupils a second time, nor pair a request again with an offer it has a live match with (the store would
    # drop that proposal, and the capacity the run gave it would be lost to every other request).
    waiting_direct = (Match.status == MatchStatus.PROPOSED) & ~matching_store.replaceable(area)
    held = read(
        select(Match.request_id, SchoolRequest.school_id, Match.offer_id, func.sum(Match.allocation),
               func.max(case((Match.status.in_(LIVE), 1), else_=0)))
        .join(SchoolRequest, SchoolRequest.id == Match.request_id)
        .where(Match.area_id == area.id, Match.status.in_(HOLDS_CAPACITY) | waiting_direct)
        .group_by(Match.request_id, SchoolRequest.school_id, Match.offer_id)
    ).all()
    history = read(
        select(SchoolRequest.school_id, Offer.provider_id, func.count(Match.id))
        .join(SchoolRequest, SchoolRequest.id == Match.request_id)
        .join(Offer, Offer.id == Match.offer_id)
        .where(Match.area_id == area.id, Match.status.in_(HISTORY_STATUSES),
               # the proposals this run replaces are not history: running twice gives the same answer
               ~matching_store.replaceable(area))
        .group_by(SchoolRequest.school_id, Offer.provider_id)
    ).all()
    pupils, year_sizes, places = [], [], []
    # The schools as a list of ids, not the requests' subquery: PostgreSQL took that for a semi join scanning
    # every school's requests once per year-group row (20 ms an area, now well under 1).
    with_requests = sorted({row[1] for row in requests})
    if with_requests:
        target = area.contact_target
        pupils = read(
            select(Pupil.school_id, Pupil.year_group, func.count(),
                   func.sum(case((Pupil.contacts < target, 1), else_=0)),
                   func.sum(case(((Pupil.contacts < target) & Pupil.at_risk.is_(True), 1), else_=0)))
            .where(Pupil.school_id.in_(with_requests), Pupil.status == PupilStatus.ON_ROLL)
            .group_by(Pupil.school_id, Pupil.year_group)
            .order_by(Pupil.school_id, Pupil.year_group)
        ).all()
        year_sizes = read(
            select(SchoolYearSize.school_id, SchoolYearSize.year_group, SchoolYearSize.pupils)
            .where(SchoolYearSize.school_id.in_(with_requests))
            .order_by(SchoolYearSize.school_id, SchoolYearSize.year_group)
        ).all()
        places = read(
            select(Organisation.id, Organisation.latitude, Organisation.longitude)
            .where(Organisation.id.in_(with_requests)).order_by(Organisation.id)
        ).all()
    return _Rows(today=today, label=f"{area.name} on {today.isoformat()}", weights=area_weights(area),
                 target_text=counting.target_text(area), requests=requests, offers=offers, held=held, pupils=pupils,
                 year_sizes=year_sizes, places=places, history=history)


def _text(column):
    """A JSON list column read as its text: the few distinct values are parsed once each (_codes), not per row."""
    return cast(column, Text).label(column.key)


@functools.lru_cache(maxsize=4096)
def _codes(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text) or ()) if text else ()


def run_matching(area: Area, *, by: User | None = None, dry_run: bool = False,
                 today: date | None = None) -> tuple[Result, int]:
    """Solve the area and (unless `dry_run`) store the proposals, replacing its earlier unapproved ones.

    Reading, solving and storing happen in one write transaction with one commit at the end (on SQLite the write
    lock is held throughout). Replacing is a conditional move, so a proposal a coordinator approves meanwhile
    stays approved; proposals hold no capacity, so approving them later re-checks the places as usual. Returns
    the engine's result and how many proposals were stored (a proposal for an offer and request that already
    have another live match is not stored twice).
    """
    return run_areas([area], by=by, dry_run=dry_run, today=today)[0]


def run_areas(areas: Sequence[Area], *, by: User | None = None, dry_run: bool = False,
              today: date | None = None, processes: int | None = None) -> list[tuple[Result, int]]:
    """run_matching for several areas at once (a region, every area at night): one write transaction, as for one
    area, with the engine solving the areas side by side in forked processes (solved_in_turn) while this process
    reads the next areas and stores each area's proposals, in the areas' order. The areas are independent
    instances, so the result is the same as running them one after another. Returns (result, stored) per area, in
    the order given. `processes`: at most this many solver processes at a time (default: one per core)."""
    today = today or date.today()
    # Reading instances, unpickling results and storing proposals make many small objects and no cycles: the
    # collector stays paused meanwhile (portal/matching/gc_pause.py), and so in the forked solvers.
    with gc_paused():
        if dry_run:
            return [(result, 0) for _, result in solved_in_turn(areas, today=today, processes=processes)]
        due_now: list[Match] = []
        outcomes = []
        area_ids = [area.id for area in areas]
        with write_transaction():
            hold_matching_runs(area_ids)  # PostgreSQL: another run of these areas finishes first (db_locks)
            for area, result in solved_in_turn(areas, today=today, processes=processes):
                stored, due = matching_store.store(area, result, by)
                due_now += due
                outcomes.append((result, stored))
            matching_store.refresh_statistics()
            db.session.commit()
    if due_now:
        auto_approval.run_due(only=due_now)
    return outcomes


def solved_in_turn(areas: Sequence[Area], *, today: date, processes: int | None = None
                   ) -> Iterator[tuple[Area, Result]]:
    """(area, result) for each area in the order given, each area's instance read here and built and solved in a
    forked process of its own, `processes` of them at most at a time (default one per core; OR-Tools holds the GIL
    while it solves, so threads would not help). The caller's work between two results (storing one area) overlaps
    the solving of the next ones: when a solver finishes, the next area's is started before its result is handed
    over. One area, one process, or no fork (not POSIX): solved here, one after another. A solver process inherits
    its instance's rows at the fork (pickling an instance to a pool costs about a third of solving it), builds the
    instance from them (this process, which reads and stores every area, is the run's longest chain), touches no
    database, sends its result back through a pipe and ends through os._exit, so the connections it inherited are
    never closed from it."""
    if processes is None:
        processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if min(processes, len(areas)) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for area in areas:
            yield area, solve(build_instance(area, today=today))
        return
    from portal.matching import engine  # noqa: F401 — imported once here, before the forks, not in every solver
    pending: deque[tuple[Area, _Solver]] = deque()
    try:
        for area in areas:
            rows = _read(area, today)
            if len(pending) < processes:
                pending.append((area, _Solver(rows)))
                continue
            waiting_area, solver = pending.popleft()
            result = solver.result()
            pending.append((area, _Solver(rows)))  # solving before the caller stores: no core waits for it
            yield waiting_area, result
        while pending:
            waiting_area, solver = pending.popleft()
            yield waiting_area, solver.result()
    finally:  # the caller failed or stopped early: no solver outlives the run
        for _, solver in pending:
            solver.stop()


class _Solver:
    """The engine run on one area's instance, built from its rows, in a forked child process; result() waits for
    it."""

    def __init__(self, rows: _Rows):
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_solve_and_send, args=(rows, send), daemon=True)
        self._process.start()
        send.close()  # the child's end: the parent keeps only its own, so a dead child reads as EOF

    def result(self) -> Result:
        try:
            outcome = self._receive.recv()
        except EOFError:  # killed, or out of memory
            outcome = None
        finally:
            self._receive.close()
        self._process.join()
        if outcome is None:
            raise RuntimeError(f"the solver process ended without a result (exit code {self._process.exitcode})")
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stop(self) -> None:
        self._receive.close()
        self._process.kill()
        self._process.join()


def _solve_and_send(rows: _Rows, send) -> None:
    try:
        outcome: Result | Exception = solve(rows.instance())
    except Exception as error:  # sent back, so the run fails in the parent with the engine's own error
        outcome = error
    send.send(outcome)
    send.close()


def areas_for(user) -> list[Area]:
    """The areas this user may run matching for: a coordinator's own, every area for admins."""
    if user.role == Role.COORDINATOR:  # their own, loaded already (the policy reads them) and ordered by name too
        return list(user.areas)
    query = select(Area).order_by(Area.name)
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Area.id.in_(areas or {-1}))
    return list(db.session.scalars(query))


def run_summary(area: Area, result, stored: int) -> str:
    """One sentence for the coordinator after a run."""
    short = len(result.unmatched)
    text = (f"Matching for {area.name} proposed {stored} pairing{'' if stored == 1 else 's'} "
            f"for {result.totals.units_placed} pupils, places or classes.")
    if short:
        text += f" {short} request{' was' if short == 1 else 's were'} not placed in full."
    return text
