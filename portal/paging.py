"""Paged lists, one behaviour for all of them: the page number from the query string, and what a page past the end is.

A page past the last one (an old bookmark, a list that shrank, a hand-typed ?page=999) is not an error and not an
empty list: every list renders it with `_macros/pagination.html`'s `no_such_page`, which names the last page and
links to it with the list's filters kept. The lists' empty-state sentences are only for a list with no rows at all.
"""
from flask import Flask, request
from flask_sqlalchemy.pagination import Pagination

from portal.extensions import db

# Beyond this the offset would not fit the databases' 64-bit integers; no list is anywhere near this long.
MAX_PAGE = 10**9


def clamp(page: int) -> int:
    """A page number the database can take: at least 1, at most MAX_PAGE (a service given a page uses this too)."""
    return min(max(page, 1), MAX_PAGE)


def page_number() -> int:
    """The ?page= asked for: 1 when missing or not a number, and clamped."""
    return clamp(request.args.get("page", 1, type=int))


def paginate(query, *, per_page: int) -> Pagination:
    """One page of a select, the page number read from the request; a page past the end comes back empty, not 404."""
    return db.paginate(query, page=page_number(), per_page=per_page, max_per_page=per_page, error_out=False)


def past_the_end(pagination: Pagination) -> bool:
    """The list has rows, but not as many pages as the one asked for (a list with no rows has no such page)."""
    return bool(pagination.total) and pagination.page > pagination.pages


def init_app(app: Flask) -> None:
    app.add_template_test(past_the_end)
