"""Running the matching engine on an area: load the database into the engine's Instance, solve, store proposals.

The engine (portal.matching) is pure; this service is the only place that reads its input from the database and
writes its output back. `build_instance` is the engine's exact input, so `flask match export` can write it to a
file and `flask match solve` can re-run it offline (docs/matching.md, "The instance format").

A run replaces the area's earlier unapproved engine proposals: in one write transaction those it does not make again
move to cancelled (with their history row) and the new proposals are stored, each with its first history row; those
it makes again stay, brought up to date (a new allocation with a history row of its own).
"""
import functools
import json
import multiprocessing
import os
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    column,
    func,
    insert,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from portal import policy
from portal.catalogue import OFFER_TYPES, Unit
from portal.errors import NotFound
from portal.extensions import db
from portal.matching import (
    Held,
    History,
    Instance,
    OfferInput,
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
    MatchEvent,
    MatchOrigin,
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
    utcnow,
)
from portal.services import audit, auto_approval
from portal.services.db_locks import write_transaction
from portal.vocab import SECTORS, Role

LIVE_REQUEST = (RequestStatus.OPEN, RequestStatus.PARTLY_MATCHED)
# Earlier matches that count for variety: those holding capacity, and proposals still waiting.
HISTORY_STATUSES = tuple(HOLDS_CAPACITY | {MatchStatus.PROPOSED})
REPLACED_NOTE = "replaced by a new matching run"
PROPOSED_NOTE = "proposed by matching"
RESIZED_NOTE = "allocation changed from {was} to {allocation} by a new matching run"
SQLITE_IDS = 5_000  # ids per IN list on SQLite (well under its limit of bound parameters)
_matches, _events = Match.__table__, MatchEvent.__table__


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


def _replaceable(area: Area):
    """The area's engine proposals still waiting for a decision: a new run replaces them."""
    return (Match.area_id == area.id) & (Match.origin == MatchOrigin.ENGINE) & (Match.status == MatchStatus.PROPOSED)


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
    requests: list  # (id, school_id, area_id, wanted_types, sectors, year_mask, pupils, starts_on, ends_on,
    #                  deliveries, created_at, max_travel_miles, keep_together); the lists as JSON text
    offers: list  # (id, provider_id, area_id, type, sector, delivery, capacity, allocated, per_session, starts_on,
    #               ends_on, year_mask, max_travel_miles, open_to_all_areas, latitude, longitude)
    held: list  # (request_id, school_id, offer_id, units) of matches holding capacity or direct proposals waiting
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
        for request_id, school_id, offer_id, held_units in self.held:
            held_by_request[request_id] += int(held_units)
            held_by_pair[(school_id, offer_id)] += int(held_units)
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
            need_basis=NEED_BELOW_FOUR if any_roster else NEED_NO_CONTACTS, sector_labels=dict(SECTORS),
            weights=self.weights, type_labels={code: kind.label for code, kind in OFFER_TYPES.items()},
            label=self.label,
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
    read = _reader()
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
    # capacity, and direct proposals still waiting for a coordinator (a school asked for that offer, or the
    # provider offered) — the engine does not propose those pupils a second time.
    waiting_direct = (Match.status == MatchStatus.PROPOSED) & (Match.origin != MatchOrigin.ENGINE)
    held = read(
        select(Match.request_id, SchoolRequest.school_id, Match.offer_id, func.sum(Match.allocation))
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
               ~_replaceable(area))
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
                 requests=requests, offers=offers, held=held, pupils=pupils, year_sizes=year_sizes, places=places,
                 history=history)


def _reader():
    """Runs a select of plain columns on the session's connection (after flushing what the session holds): rows
    without the ORM's result processing, which cost a run's reads more than the database took to answer them."""
    db.session.flush()
    return db.session.connection().execute


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
        with write_transaction():
            for area, result in solved_in_turn(areas, today=today, processes=processes):
                stored, due = _store(area, result, by)
                due_now += due
                outcomes.append((result, stored))
            db.session.commit()
    if due_now:
        auto_approval.run_due(only=due_now)
    return outcomes


def _store(area: Area, result: Result, by: User | None) -> tuple[int, list[Match]]:
    """Put the result in place of the area's waiting engine proposals, schedule auto-approvals and audit the run
    (inside the caller's write transaction; it commits). A waiting proposal the run makes again (same offer and
    request) is kept as it is — its id, its age for expiry, its auto-approval time, a coordinator's hold — with
    its value and reasons brought up to date, and its allocation if the run gives the pair more or fewer units
    (with a history row saying so: the same pairing, resized, as a coordinator's change of allocation is); the
    others are cancelled ("replaced") and the new ones stored. So a nightly run does not restart every proposal's
    clock, and writes a new row only for a new pairing. Returns how many proposals stand for this run (kept and
    new) and the proposals due for auto-approval now."""
    replaceable = _replaceable(area)
    read = _reader()
    waiting = {(offer_id, request_id): (match_id, allocation, score, reasons)
               for match_id, offer_id, request_id, allocation, score, reasons in read(
                   select(_matches.c.id, _matches.c.offer_id, _matches.c.request_id, _matches.c.allocation,
                          _matches.c.score, _matches.c.reasons).where(replaceable)).all()}  # all(): one fetch
    # Every request in the instance is one of this area's schools' (build_instance), so the proposals' area is
    # this one; an offer and request that already have another live match are not proposed twice.
    taken = {(o, r) for o, r in read(
        select(Match.offer_id, Match.request_id).where(Match.area_id == area.id, Match.status.in_(LIVE), ~replaceable)
    ).all()}
    rows, refresh, resize, kept = [], [], [], 0
    for proposal in result.proposals:
        key = (proposal.offer_id, proposal.request_id)
        if key in taken:
            continue
        reasons = " · ".join(proposal.reasons)
        earlier = waiting.pop(key, None)
        if earlier is None:
            rows.append({"offer_id": proposal.offer_id, "request_id": proposal.request_id,
                         "allocation": proposal.allocation, "score": proposal.value, "reasons": reasons})
            continue
        kept += 1
        match_id, allocation, score, text = earlier
        if allocation != proposal.allocation:
            resize.append({"id": match_id, "was": allocation, "allocation": proposal.allocation,
                           "score": proposal.value, "reasons": reasons,
                           "note": RESIZED_NOTE.format(was=allocation, allocation=proposal.allocation)})
        elif (score, text) != (proposal.value, reasons):
            refresh.append({"id": match_id, "score": proposal.value, "reasons": reasons})
    replaced = _replace_proposals(area, by, only=None if not kept else sorted(m for m, *_ in waiting.values()))
    _refresh_proposals(refresh)
    _resize_proposals(resize, by)
    due_now = auto_approval.schedule_all(_insert_proposals(area, rows, by))  # offers opted in to auto-approval
    stored = kept + len(rows)
    totals = result.totals
    audit.record(
        "matching.run", actor=by, area_id=area.id,
        detail=(f"{stored} proposals stored ({kept} kept from the run before, {len(resize)} of them with a new "
                f"allocation; {len(result.proposals) - stored} already matched otherwise), {replaced} earlier "
                f"proposals replaced, {len(result.unmatched)} "
                f"requests not placed in full; {totals.units_placed} of {totals.units_needed} units placed, total "
                f"value {totals.total_value:g}"),
    )
    return stored, due_now


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


def _replace_proposals(area: Area, by: User | None, *, only: list[int] | None = None) -> int:
    """Cancel the area's engine proposals still waiting (`only` those ids, if given), each with its history row,
    set-based (a run replaces thousands) and without sending ids back. On PostgreSQL one statement: the
    conditional UPDATE in a CTE and the INSERT of the history rows from what it returned, so a proposal someone
    approved meanwhile no longer matches the UPDATE's WHERE, stays as they left it and gets no history row. On
    SQLite the write lock is held (write_transaction), so the history rows are written from the same condition
    just before the UPDATE."""
    if only is not None and not only:
        return 0
    now = utcnow()
    replaceable = _replaceable(area)
    if _dialect() == "postgresql":
        chosen = replaceable if only is None else replaceable & (_matches.c.id == any_(
            bindparam("only", only, type_=postgresql.ARRAY(Integer))))
        moved = (update(_matches).where(chosen).values(status=MatchStatus.CANCELLED, updated_at=now)
                 .returning(_matches.c.id).cte("moved"))
        history = _history_insert(moved.c.id, None, by, now, MatchStatus.PROPOSED, MatchStatus.CANCELLED,
                                  REPLACED_NOTE).returning(_events.c.id).cte("history")
        replaced = db.session.scalar(select(func.count()).select_from(moved).add_cte(history))
    else:
        replaced = 0
        chunks = [None] if only is None else [only[i:i + SQLITE_IDS] for i in range(0, len(only), SQLITE_IDS)]
        for chunk in chunks:
            chosen = replaceable if chunk is None else replaceable & _matches.c.id.in_(chunk)
            db.session.execute(_history_insert(_matches.c.id, chosen, by, now, MatchStatus.PROPOSED,
                                               MatchStatus.CANCELLED, REPLACED_NOTE))
            replaced += db.session.execute(
                update(_matches).where(chosen).values(status=MatchStatus.CANCELLED, updated_at=now)).rowcount
    if replaced:  # copies loaded earlier re-read their new status
        _expire_matches(lambda match: match.area_id == area.id and match.origin == MatchOrigin.ENGINE,
                        ["status", "updated_at"])
    return replaced


def _expire_matches(which, attributes: list[str]) -> None:
    """Expire these attributes on the session's copies of the matches `which` picks (changed by a Core statement
    behind the ORM's back), so they are read again when next used. No queries."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Match) and which(obj):
            db.session.expire(obj, attributes)


def _refresh_proposals(rows: list[dict]) -> None:
    """Bring kept proposals' value and reasons up to date (rows of id, score, reasons), while still waiting: on
    PostgreSQL one UPDATE ... FROM json_to_recordset, on SQLite the driver's executemany."""
    if not rows:
        return
    now = utcnow()
    if _dialect() == "postgresql":
        new = _json_rows(rows, column("id", Integer), column("score", Float), column("reasons", Text))
        db.session.execute(
            update(_matches).where(_matches.c.id == new.c.id, _matches.c.status == MatchStatus.PROPOSED)
            .values(score=new.c.score, reasons=new.c.reasons, updated_at=literal(now, DateTime())))
    else:
        connection = db.session.connection()
        stamp = DateTime().dialect_impl(connection.dialect).bind_processor(connection.dialect)(now)
        connection.exec_driver_sql(
            "UPDATE matches SET score = ?, reasons = ?, updated_at = ? WHERE id = ? AND status = ?",
            [(row["score"], row["reasons"], stamp, row["id"], str(MatchStatus.PROPOSED)) for row in rows])
    refreshed = {row["id"] for row in rows}
    _expire_matches(lambda match: inspect(match).identity[0] in refreshed, ["score", "reasons", "updated_at"])


def _resize_proposals(rows: list[dict], by: User | None) -> None:
    """Give kept proposals the run's new allocation, value and reasons (rows of id, was, allocation, score, reasons,
    note), each with a history row (proposed to proposed, the note saying from what to what), while still waiting
    with the allocation read: on PostgreSQL one statement (the conditional UPDATE ... FROM json_to_recordset in a
    CTE, the history rows inserted from what it returned), so a proposal a coordinator decided or changed
    meanwhile stays as they left it; on SQLite, under the write lock, the history rows from the same condition
    just before the UPDATE, each by the driver's executemany."""
    if not rows:
        return
    now = utcnow()
    if _dialect() == "postgresql":
        new = _json_rows(rows, column("id", Integer), column("was", Integer), column("allocation", Integer),
                         column("score", Float), column("reasons", Text), column("note", Text))
        resized = (update(_matches)
                   .where(_matches.c.id == new.c.id, _matches.c.status == MatchStatus.PROPOSED,
                          _matches.c.allocation == new.c.was)
                   .values(allocation=new.c.allocation, score=new.c.score, reasons=new.c.reasons,
                           updated_at=literal(now, DateTime()))
                   .returning(_matches.c.id, new.c.note).cte("resized"))
        db.session.execute(_history_insert(resized.c.id, None, by, now, MatchStatus.PROPOSED, MatchStatus.PROPOSED,
                                           resized.c.note))
    else:
        connection = db.session.connection()
        stamp = DateTime().dialect_impl(connection.dialect).bind_processor(connection.dialect)(now)
        proposed = str(MatchStatus.PROPOSED)
        connection.exec_driver_sql(  # one statement over the rows as JSON (json_each), not one per row
            "INSERT INTO match_events (match_id, at, actor_id, from_status, to_status, note) "
            "SELECT matches.id, ?, ?, ?, ?, json_extract(new.value, '$.note') FROM json_each(?) AS new "
            "JOIN matches ON matches.id = json_extract(new.value, '$.id') "
            "WHERE matches.status = ? AND matches.allocation = json_extract(new.value, '$.was') ORDER BY matches.id",
            (stamp, getattr(by, "id", None), proposed, proposed, json.dumps(rows), proposed))
        connection.exec_driver_sql(
            "UPDATE matches SET allocation = ?, score = ?, reasons = ?, updated_at = ? "
            "WHERE id = ? AND status = ? AND allocation = ?",
            [(row["allocation"], row["score"], row["reasons"], stamp, row["id"], proposed, row["was"])
             for row in rows])
    resized_ids = {row["id"] for row in rows}
    _expire_matches(lambda match: inspect(match).identity[0] in resized_ids,
                    ["allocation", "score", "reasons", "updated_at"])


def _json_rows(rows: list[dict], *columns):
    """The rows as a table on PostgreSQL: they travel as one JSON parameter (json.dumps is fast; a list per column
    would be adapted element by element) and json_to_recordset turns them back into typed columns."""
    return func.json_to_recordset(cast(bindparam("rows", json.dumps(rows), type_=Text), JSON)).table_valued(
        *columns, name="new", joins_implicitly=True).render_derived(with_types=True)


def _history_insert(match_id, where, by: User | None, now, from_status: str | None, to_status: str, note):
    """INSERT ... SELECT of one history row per match id the select gives (`where` may narrow it); `note` is the
    same text for every row, or a column of the select's."""
    rows = select(match_id, literal(now, DateTime()), literal(getattr(by, "id", None), Integer()),
                  literal(from_status, String()), literal(to_status, String()),
                  literal(note, Text()) if isinstance(note, str) else note)
    if where is not None:
        rows = rows.where(where)
    return insert(_events).from_select(["match_id", "at", "actor_id", "from_status", "to_status", "note"],
                                       rows.order_by(match_id))


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _insert_proposals(area: Area, rows: list[dict], by: User | None) -> list[Match]:
    """Store the new proposals (rows of offer_id, request_id, allocation, score, reasons, in that order) and their
    first history rows, without the new ids travelling back: on PostgreSQL one statement (INSERT ... SELECT from
    json_to_recordset in a CTE, the history rows inserted from what it returned); on SQLite the driver's
    executemany, then the history rows INSERT ... SELECT of the ids above the largest before (the write lock is
    held, so the new rows are exactly those). Returns, as objects, those whose offer opted in to auto-approval
    (the only ones auto_approval looks at), in id order."""
    if not rows:
        return []
    now = utcnow()
    by_id = getattr(by, "id", None)
    if _dialect() == "postgresql":
        new = _json_rows(rows, column("offer_id", Integer), column("request_id", Integer),
                         column("allocation", Integer), column("score", Float), column("reasons", Text))
        stored = insert(_matches).from_select(
            ["offer_id", "request_id", "allocation", "score", "reasons", "area_id", "status", "origin",
             "created_by_id", "created_at", "updated_at"],
            select(new.c.offer_id, new.c.request_id, new.c.allocation, new.c.score, new.c.reasons,
                   literal(area.id, Integer()), literal(MatchStatus.PROPOSED, String()),
                   literal(MatchOrigin.ENGINE, String()), literal(by_id, Integer()), literal(now, DateTime()),
                   literal(now, DateTime())),
        ).returning(_matches.c.id, _matches.c.offer_id).cte("stored")
        history = _history_insert(stored.c.id, None, by, now, None, MatchStatus.PROPOSED, PROPOSED_NOTE) \
            .returning(_events.c.id).cte("history")
        auto = list(db.session.scalars(
            select(stored.c.id).join(Offer, Offer.id == stored.c.offer_id).where(Offer.auto_approve.is_(True))
            .order_by(stored.c.id).add_cte(history)))
    else:  # SQLite: the driver's executemany over plain tuples, with the timestamp written as SQLAlchemy writes it
        connection = db.session.connection()
        before = connection.scalar(select(func.coalesce(func.max(_matches.c.id), 0)))
        stamp = DateTime().dialect_impl(connection.dialect).bind_processor(connection.dialect)(now)
        constant = (area.id, str(MatchStatus.PROPOSED), str(MatchOrigin.ENGINE), by_id, stamp, stamp)
        connection.exec_driver_sql(
            "INSERT INTO matches (offer_id, request_id, allocation, score, reasons, area_id, status, origin, "
            "created_by_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(row.values()) + constant for row in rows])
        new_rows = _matches.c.id > before
        connection.execute(_history_insert(_matches.c.id, new_rows, by, now, None, MatchStatus.PROPOSED,
                                           PROPOSED_NOTE))
        auto = list(connection.scalars(
            select(_matches.c.id).join(Offer, Offer.id == _matches.c.offer_id)
            .where(new_rows, Offer.auto_approve.is_(True)).order_by(_matches.c.id)))
    if not auto:
        return []
    return list(db.session.scalars(select(Match).where(Match.id.in_(auto)).order_by(Match.id)))


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
