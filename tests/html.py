"""Reading pages in tests: the text of table rows, as a person scanning the table would."""
from html.parser import HTMLParser


class _BodyRows(HTMLParser):
    def __init__(self, cells: tuple[str, ...]):
        super().__init__()
        self.cells = cells
        self.rows: list[list[str]] = []
        self._in_body = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in self.cells and self._in_body:
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag in self.cells:
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data.strip()


def table_rows(response, cells: tuple[str, ...] = ("td", "th")) -> list[list[str]]:
    """The text of each cell of each <tbody> row on the page (`cells` picks which cell tags count)."""
    parser = _BodyRows(cells)
    parser.feed(response.get_data(as_text=True))
    return parser.rows
