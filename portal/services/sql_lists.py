"""`in_list(column, name)`: "column is one of the list passed as parameter `name`", for statements built once and run
with lists of any length (the counting's pupil, school, year group and academic year ids).

On PostgreSQL it is `column = ANY(:name)`, the list sent as one array parameter. An expanding IN there gives
every length of list a statement text of its own: the server parses and plans each anew, psycopg cannot
prepare it (it prepares a text after its fifth use), and a text longer than 4,096 characters is split into its
placeholders again on every execution, outside psycopg's cache (a register of 41 pupils made the attendance
UPDATE 5,800 characters). Refreshing 500 pupils' totals went 31.6 → 21.8 ms, its client CPU 6.7 → 1.3 ms
(bench/README.md, session 18); for one register of 40 the difference was within the noise.

SQLite has no arrays: there it is the usual expanding IN (`column IN (?, ?, ...)`), which its driver handles
cheaply. One statement object serves both: SQLAlchemy compiles it per dialect and caches each form. Either form
is rendered in parentheses, so it can stand as an operand anywhere (`attended IS DISTINCT FROM (...)`).
"""
from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InList(ColumnElement[bool]):
    """The condition; build it with in_list()."""

    type = Boolean()
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str):
        self.column = column
        self.name = name

    def self_group(self, against=None):
        # Already a condition (rendered in parentheses): not a boolean column that SQLite's WHERE compares to 1.
        return self


def in_list(column: ColumnElement[Any], name: str) -> InList:
    """`column` is one of the values of the list parameter `name` (an empty list matches no row)."""
    return InList(column, name)


@compiles(InList)
def _expanding_in(element: InList, compiler, **kw) -> str:
    condition = element.column.in_(bindparam(element.name, expanding=True))
    return f"({compiler.process(condition, **kw)})"


@compiles(InList, "postgresql")
def _any_of_array(element: InList, compiler, **kw) -> str:
    condition = element.column == any_(bindparam(element.name, type_=ARRAY(element.column.type)))
    return f"({compiler.process(condition, **kw)})"
