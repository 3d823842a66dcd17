"""Links to one endpoint for every row of a page: url_for is asked once, and each row's id is put into its URL.

url_for costs several microseconds; a page of fifty rows with four links each spends over a millisecond on them.
When the rows' URLs differ only in one `<int:...>` part (`/matches/<int:match_id>/approve`), the URL of any row is
the URL built for a placeholder id with the row's id in its place: the int converter writes an id as `str(id)`.
`row_links` checks that this holds for the endpoint, and falls back to url_for for every row when it does not.
"""
from collections.abc import Callable

from flask import Flask, current_app, url_for
from werkzeug.routing import IntegerConverter

PLACEHOLDER = 987654321  # an id no row has; its digits must appear exactly once in the URL built for it


def row_links(endpoint: str, key: str, **values) -> Callable[[int], str]:
    """A function of a row's id giving `url_for(endpoint, **{key: id}, **values)`, built once for the whole page.

    In a template: `{% set approve_url = row_links('matches.approve', 'match_id', **return_args) %}`, then
    `{{ approve_url(row.match_id) }}` in the loop.
    """
    marker = str(PLACEHOLDER)
    url_map = current_app.url_map
    rules = list(url_map.iter_rules(endpoint))
    if len(rules) == 1 and f"<int:{key}>" in rules[0].rule and url_map.converters.get("int") is IntegerConverter:
        url = url_for(endpoint, **{key: PLACEHOLDER}, **values)
        if url.count(marker) == 1:
            head, tail = url.split(marker)

            def link(row_id: int) -> str:
                if type(row_id) is int:  # not bool, not a string of digits: those go through url_for as they are
                    return f"{head}{row_id}{tail}"
                return url_for(endpoint, **{key: row_id}, **values)

            return link

    def each(row_id: int) -> str:
        return url_for(endpoint, **{key: row_id}, **values)

    return each


def init_app(app: Flask) -> None:
    app.add_template_global(row_links)
