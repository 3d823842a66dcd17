"""Storing a matching run's result (services.matching): the area's waiting engine proposals brought in line with it.

In the run's one write transaction: a waiting proposal the run makes again stays (its value and reasons brought up
to date; resized, with a history row, if the run gives the pairing another allocation), the others move to
cancelled with their history row, and the new proposals are stored, each with its first history row; auto-approvals
are scheduled, each request the run did not place in full keeps the engine's reasons for its page, and the run is
audited. Set-based throughout (a nightly run touches thousands of rows an area), and
conditional on the state read, so a coordinator's decision made meanwhile stands.
"""
import json

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql

from portal.extensions import db
from portal.matching import Result
from portal.models import (
    LIVE,
    Area,
    Match,
    MatchEvent,
    MatchOrigin,
    MatchStatus,
    Offer,
    SchoolRequest,
    User,
    utcnow,
)
from portal.services import audit, auto_approval

REPLACED_NOTE = "replaced by a new matching run"
PROPOSED_NOTE = "proposed by matching"
RESIZED_NOTE = "allocation changed from {was} to {allocation} by a new matching run"
SQLITE_IDS = 5_000  # ids per IN list on SQLite (well under its limit of bound parameters)
ANALYZE_AFTER = 1_000  # new proposals in a run after which PostgreSQL re-reads the table's statistics
_INSERTED = "matching_store.inserted"  # new proposals this transaction stored so far (the session's info)
_matches, _events, _requests = Match.__table__, MatchEvent.__table__, SchoolRequest.__table__


def replaceable(area: Area):
    """The area's engine proposals still waiting for a decision that no coordinator has taken in hand (changed its
    allocation or held it): a new run replaces them. The rest are people's: a run leaves them as they are and
    does not propose their pupils again (services.matching, `held`)."""
    return ((Match.area_id == area.id) & (Match.origin == MatchOrigin.ENGINE) & (Match.status == MatchStatus.PROPOSED)
            & Match.adjusted_at.is_(None))


def reader():
    """Runs a select of plain columns on the session's connection (after flushing what the session holds): rows
    without the ORM's result processing, which cost a run's reads more than the database took to answer them."""
    db.session.flush()
    return db.session.connection().execute


def store(area: Area, result: Result, by: User | None) -> tuple[int, list[Match]]:
    """Put the result in place of the area's waiting engine proposals, schedule auto-approvals and audit the run
    (inside the caller's write transaction; it commits). A proposal a coordinator took in hand (changed its
    allocation or held it) is not the run's to change: it stays as they left it, and its pairing is not proposed
    again. A waiting proposal the run makes again (same offer and request) is kept as it is — its id, its age for
    expiry, its auto-approval time — with its value and reasons brought up to date, and its allocation if the run
    gives the pair more or fewer units (with a history row saying so: the same pairing, resized); the others are
    cancelled ("replaced") and the new ones stored. So a nightly run does not restart every proposal's clock, and
    writes a new row only for a new pairing. Returns how many proposals stand for this run (kept and
    new) and the proposals due for auto-approval now."""
    waiting_now = replaceable(area)
    read = reader()
    waiting = {(offer_id, request_id): (match_id, allocation, score, reasons)
               for match_id, offer_id, request_id, allocation, score, reasons in read(
                   select(_matches.c.id, _matches.c.offer_id, _matches.c.request_id, _matches.c.allocation,
                          _matches.c.score, _matches.c.reasons).where(waiting_now)).all()}  # all(): one fetch
    # Every request in the instance is one of this area's schools' (services.matching.build_instance), so the
    # proposals' area is this one; an offer and request that already have another live match are not proposed twice.
    taken = {(o, r) for o, r in read(
        select(Match.offer_id, Match.request_id).where(Match.area_id == area.id, Match.status.in_(LIVE), ~waiting_now)
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
    _note_unplaced(area, result)
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


def refresh_statistics() -> None:
    """At the end of a run (in its transaction, before the commit): when it stored many new proposals, PostgreSQL
    re-reads `matches`' statistics now rather than when autovacuum gets to it, a minute or so later. A second run
    straight after a first had otherwise planned its resizes for the 42 proposals the table held before the first
    and parsed the rows' JSON once per proposal: 5-7 s an area instead of a few milliseconds (bench/README.md,
    session 21). Inside the transaction ANALYZE counts the rows it inserted; at 50,000 matches it takes ~0.1 s."""
    inserted = db.session.info.pop(_INSERTED, 0)
    if inserted >= ANALYZE_AFTER and _dialect() == "postgresql":
        db.session.execute(text("ANALYZE matches"))


def _note_unplaced(area: Area, result: Result) -> None:
    """Each request of the area the run did not place in full keeps the engine's reasons, and since when (the first
    run that gave these reasons), for its page; the area's others lose any from an earlier run. Only what changed
    is written: nightly runs over much the same offers give most waiting requests the same reasons again, and
    rewriting each of them twice (cleared, then set) took 0.3 s a run of the synthetic region on PostgreSQL
    (bench/README.md, session 22). Neither statement touches a request's version or its updated_at: a careers lead
    editing it meanwhile is not told of a conflict for this."""
    before = dict(db.session.execute(
        select(_requests.c.id, _requests.c.unplaced_reasons)
        .where(_requests.c.area_id == area.id, _requests.c.unplaced_reasons.is_not(None))).all())
    words = {u.request_id: u.reasons_text for u in result.unmatched}
    cleared = [{"id": request_id} for request_id in before if request_id not in words]
    changed = [{"id": request_id, "reasons": reasons} for request_id, reasons in words.items()
               if before.get(request_id) != reasons]
    stamp = utcnow()
    if _dialect() == "postgresql":
        if cleared:
            db.session.execute(
                update(_requests).where(_ids_in(_requests.c.id, cleared), _requests.c.area_id == area.id)
                .values(unplaced_reasons=None, unplaced_at=None, updated_at=_requests.c.updated_at))
        if changed:
            new = _json_rows(changed, column("id", Integer), column("reasons", Text))
            db.session.execute(
                update(_requests).where(_ids_in(_requests.c.id, changed), _requests.c.id == new.c.id,
                                        _requests.c.area_id == area.id)
                .values(unplaced_reasons=new.c.reasons, unplaced_at=literal(stamp, DateTime()),
                        updated_at=_requests.c.updated_at))
        return
    connection = db.session.connection()  # SQLite: the driver's executemany
    if cleared:
        connection.exec_driver_sql(
            "UPDATE school_requests SET unplaced_reasons = NULL, unplaced_at = NULL WHERE id = ? AND area_id = ?",
            [(row["id"], area.id) for row in cleared])
    if changed:
        at = _stamp(connection, stamp)
        connection.exec_driver_sql(
            "UPDATE school_requests SET unplaced_reasons = ?, unplaced_at = ? WHERE id = ? AND area_id = ?",
            [(row["reasons"], at, row["id"], area.id) for row in changed])


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
    waiting_now = replaceable(area)
    if _dialect() == "postgresql":
        chosen = waiting_now if only is None else waiting_now & (_matches.c.id == any_(
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
            chosen = waiting_now if chunk is None else waiting_now & _matches.c.id.in_(chunk)
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


def _expire_ids(ids: set[int], attributes: list[str]) -> None:
    _expire_matches(lambda match: inspect(match).identity[0] in ids, attributes)


def _refresh_proposals(rows: list[dict]) -> None:
    """Bring kept proposals' value and reasons up to date (rows of id, score, reasons), while still waiting: on
    PostgreSQL one UPDATE ... FROM json_to_recordset, on SQLite the driver's executemany."""
    if not rows:
        return
    now = utcnow()
    if _dialect() == "postgresql":
        new = _json_rows(rows, column("id", Integer), column("score", Float), column("reasons", Text))
        db.session.execute(
            update(_matches).where(_ids_in(_matches.c.id, rows), _matches.c.id == new.c.id,
                                   _matches.c.status == MatchStatus.PROPOSED)
            .values(score=new.c.score, reasons=new.c.reasons, updated_at=literal(now, DateTime())))
    else:
        connection = db.session.connection()
        stamp = _stamp(connection, now)
        connection.exec_driver_sql(
            "UPDATE matches SET score = ?, reasons = ?, updated_at = ? WHERE id = ? AND status = ?",
            [(row["score"], row["reasons"], stamp, row["id"], str(MatchStatus.PROPOSED)) for row in rows])
    _expire_ids({row["id"] for row in rows}, ["score", "reasons", "updated_at"])


def _resize_proposals(rows: list[dict], by: User | None) -> None:
    """Give kept proposals the run's new allocation, value and reasons (rows of id, was, allocation, score, reasons,
    note), each with a history row (proposed to proposed, the note saying from what to what), while still waiting
    with the allocation read and not taken in hand by a coordinator: on PostgreSQL one statement (the conditional
    UPDATE ... FROM json_to_recordset in a CTE, the history rows inserted from what it returned), so a proposal a
    coordinator decided, changed or held meanwhile stays as they left it; on SQLite, under the write lock, the
    history rows from the same condition just before the UPDATE (one INSERT ... SELECT over the rows as JSON), then
    the UPDATE by executemany."""
    if not rows:
        return
    now = utcnow()
    if _dialect() == "postgresql":
        new = _json_rows(rows, column("id", Integer), column("was", Integer), column("allocation", Integer),
                         column("score", Float), column("reasons", Text), column("note", Text))
        resized = (update(_matches)
                   .where(_ids_in(_matches.c.id, rows), _matches.c.id == new.c.id,
                          _matches.c.status == MatchStatus.PROPOSED, _matches.c.allocation == new.c.was,
                          _matches.c.adjusted_at.is_(None))
                   .values(allocation=new.c.allocation, score=new.c.score, reasons=new.c.reasons,
                           updated_at=literal(now, DateTime()))
                   .returning(_matches.c.id, new.c.note).cte("resized"))
        db.session.execute(_history_insert(resized.c.id, None, by, now, MatchStatus.PROPOSED, MatchStatus.PROPOSED,
                                           resized.c.note))
    else:
        connection = db.session.connection()
        stamp = _stamp(connection, now)
        proposed = str(MatchStatus.PROPOSED)
        connection.exec_driver_sql(  # one statement over the rows as JSON (json_each), not one per row
            "INSERT INTO match_events (match_id, at, actor_id, from_status, to_status, note) "
            "SELECT matches.id, ?, ?, ?, ?, json_extract(new.value, '$.note') FROM json_each(?) AS new "
            "JOIN matches ON matches.id = json_extract(new.value, '$.id') "
            "WHERE matches.status = ? AND matches.allocation = json_extract(new.value, '$.was') "
            "AND matches.adjusted_at IS NULL ORDER BY matches.id",
            (stamp, getattr(by, "id", None), proposed, proposed, json.dumps(rows), proposed))
        connection.exec_driver_sql(
            "UPDATE matches SET allocation = ?, score = ?, reasons = ?, updated_at = ? "
            "WHERE id = ? AND status = ? AND allocation = ? AND adjusted_at IS NULL",
            [(row["allocation"], row["score"], row["reasons"], stamp, row["id"], proposed, row["was"])
             for row in rows])
    _expire_ids({row["id"] for row in rows}, ["allocation", "score", "reasons", "updated_at"])


def _ids_in(id_column, rows: list[dict]):
    """`id = ANY(:ids)` for the rows' ids, beside their join to the rows as JSON: the planner then reaches the table
    through its primary key, however stale its statistics. Without it, after a run had just added 28,000 proposals
    and before autovacuum's ANALYZE, PostgreSQL took the proposed matches for 42 rows, scanned them and parsed the
    JSON once for each of them: 5-7 s a statement where 0.01 s does (bench/README.md, session 21)."""
    return id_column == any_(bindparam("ids", [row["id"] for row in rows], type_=postgresql.ARRAY(Integer)))


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


def _stamp(connection, now):
    """`now` as SQLAlchemy writes a DateTime on this connection, for the driver's own executemany."""
    return DateTime().dialect_impl(connection.dialect).bind_processor(connection.dialect)(now)


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
        db.session.info[_INSERTED] = db.session.info.get(_INSERTED, 0) + len(rows)
    else:  # SQLite: the driver's executemany over plain tuples, with the timestamp written as SQLAlchemy writes it
        connection = db.session.connection()
        before = connection.scalar(select(func.coalesce(func.max(_matches.c.id), 0)))
        stamp = _stamp(connection, now)
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
