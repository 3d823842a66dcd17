"""in_list: one statement for lists of any length — the same rows as an IN list on both databases, and on
PostgreSQL one statement text whatever the list's length (so psycopg caches and prepares it)."""
import sqlalchemy as sa
from sqlalchemy import event, select, update

from portal.extensions import db
from portal.models import Pupil
from portal.services import counting
from portal.services.sql_lists import in_list
from tests.factories import make_area, make_pupil, make_school

_pupils = Pupil.__table__


def _statements(run) -> list[str]:
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return seen


def test_in_list_picks_the_rows_of_the_list_and_none_for_an_empty_one(app):
    school = make_school(make_area("Lists"))
    pupils = [make_pupil(school, year_group=7 + n % 5) for n in range(6)]
    db.session.commit()
    ids = [pupil.id for pupil in pupils]
    picked = select(_pupils.c.id).where(in_list(_pupils.c.id, "ids")).order_by(_pupils.c.id)
    assert db.session.scalars(picked, {"ids": ids[1:4]}).all() == ids[1:4]
    assert db.session.scalars(picked, {"ids": []}).all() == []
    # As a value and as an operand (parenthesised): at risk = in the list, only where that changes anything.
    flag = in_list(_pupils.c.id, "flagged")
    db.session.execute(update(_pupils).where(_pupils.c.at_risk.is_distinct_from(flag)).values(at_risk=flag),
                       {"flagged": ids[:2]})
    db.session.commit()
    assert db.session.scalars(select(_pupils.c.id).where(_pupils.c.at_risk.is_(True))
                              .order_by(_pupils.c.id)).all() == ids[:2]


def test_on_postgresql_a_statement_has_one_text_whatever_the_list_length(app):
    """Refreshing 3 pupils' totals and 300 pupils' totals sends the same statements, word for word, on
    PostgreSQL (an array parameter); with expanding IN lists each length was a new text, parsed and planned anew,
    and a long one was split into its placeholders again on every execution."""
    school = make_school(make_area("Lengths"))
    pupils = [make_pupil(school, year_group=7 + n % 5) for n in range(300)]
    db.session.commit()
    ids = [pupil.id for pupil in pupils]
    few = _statements(lambda: (counting.refresh_pupils(ids[:3]), db.session.commit()))
    many = _statements(lambda: (counting.refresh_pupils(ids), db.session.commit()))
    counted = [text for text in few if "pupil_year_counts" in text or "UPDATE pupils" in text]
    assert counted, "the refresh ran no statement"
    if db.engine.dialect.name == "postgresql":
        assert few == many
        assert max(len(text) for text in many) < 4096  # psycopg caches the parsing of texts up to 4,096
    else:
        assert few != many  # SQLite: the usual expanding IN, a text per length
    assert db.session.scalar(select(sa.func.count()).select_from(_pupils).where(_pupils.c.contacts == 0)) == 300
