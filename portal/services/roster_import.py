"""Reading a school's roster export (CSV from SIMS, Arbor, Bromcom or a hand-made spreadsheet). Pure: no Flask, no
database, so it is tested on messy files byte for byte and timed in bench/.

parse() returns either every row or every problem, never both: nothing is imported until the file is clean.
Every problem carries the physical line of the file where its record starts (a quoted field may span lines),
so the careers lead can find it in the spreadsheet.
"""
import csv
import io
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

FIELDS = ("identifier", "year_group", "form_group", "display_name", "disadvantaged", "send", "at_risk")
REQUIRED = ("identifier", "year_group")
FLAGS = ("disadvantaged", "send", "at_risk")
FIELD_LABELS = {
    "identifier": "Pupil identifier",
    "year_group": "Year group",
    "form_group": "Form group",
    "display_name": "Display name",
    "disadvantaged": "Disadvantaged (pupil premium / FSM)",
    "send": "SEND",
    "at_risk": "At risk of NEET (RONI)",
}
FORM_GROUP_MAX = 20
DISPLAY_NAME_MAX = 120
IDENTIFIER_MAX = 100
MAX_PROBLEMS = 500  # a wrong column gives one problem per row; past this many, one more says how many were left out

# Common MIS headings, normalised (lower case, letters and digits only), per field. First match wins, in order.
HEADING_GUESSES: dict[str, tuple[str, ...]] = {
    "identifier": ("adno", "admissionno", "admissionnumber", "admno", "admissionsnumber", "pupilid", "studentid",
                   "misid", "personid", "pupilnumber", "studentnumber", "learnerref", "learnerreference",
                   "identifier", "pupilidentifier", "id"),
    "year_group": ("year", "yeargroup", "yr", "ncyear", "nationalcurriculumyear", "curriculumyear", "yeargrp",
                   "currentyear", "ncyearactual"),
    "form_group": ("reg", "reggroup", "registrationgroup", "registrationform", "regform", "form", "formgroup",
                   "tutorgroup", "tutor", "class", "formclass"),
    "display_name": ("displayname", "name", "preferredname", "fullname", "pupilname", "studentname", "pupil",
                     "student", "chosenname"),
    "disadvantaged": ("pupilpremium", "pp", "ppindicator", "pupilpremiumindicator", "disadvantaged", "fsm",
                      "fsmever6", "ever6fsm", "ever6", "fsm6", "fsmeligible"),
    "send": ("send", "sen", "senstatus", "sendstatus", "senprovision", "sen provision", "sendflag"),
    "at_risk": ("roni", "ronistatus", "atrisk", "atriskofneet", "riskofneet", "neetrisk", "ronirisk"),
}

TRUE_VALUES = frozenset({"y", "yes", "true", "t", "1"})
FALSE_VALUES = frozenset({"", "n", "no", "false", "f", "0"})
# SIMS writes SEN status as a code: N no special need, K SEN support, E an education, health and care plan.
SEND_CODES = {"k": True, "e": True, "s": True}
RECEPTION = frozenset({"r", "rec", "reception", "yr", "yearr", "yearreception", "yreception", "ncyr", "ncyearr"})
_YEAR = re.compile(r"^(?:y|yr|year|yeargroup|ncyear|nc)?(\d{1,2})$")
_HEADING_JUNK = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True)
class Problem:
    """Something wrong with the file. `line` is None for the file as a whole; `field` names our column."""

    message: str
    line: int | None = None
    field: str | None = None

    @property
    def text(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class RosterRow:
    line: int
    identifier: str
    year_group: int
    form_group: str | None = None
    display_name: str | None = None
    disadvantaged: bool = False
    send: bool = False
    at_risk: bool = False


@dataclass
class RosterFile:
    """The file as read: its headings and its records, each with the line where it starts."""

    headings: list[str] = field(default_factory=list)
    records: list[tuple[int, list[str]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ParseResult:
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class PreviewCell:
    value: str
    problem: str | None = None


# --- decoding -----------------------------------------------------------------------------------------------------

def decode(content: bytes) -> tuple[str, list[Problem]]:
    """Text from an export's bytes: UTF-8 (with or without a BOM), else Windows-1252 (what Excel saves on Windows).

    Bytes that are neither (Windows-1252 leaves five byte values undefined) are reported with their line.
    """
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return "", [Problem("This looks like an Excel workbook, not a CSV file. In Excel choose File, Save as, "
                            "CSV UTF-8 (comma delimited), and upload that.")]
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        try:
            return content.decode("utf-16"), []
        except UnicodeDecodeError:
            return "", [Problem("The file says it is UTF-16 but cannot be read as such. Save it as CSV UTF-8.")]
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1252")
        except UnicodeDecodeError:
            return "", _undecodable_lines(content)
    if "\x00" in text:
        return "", [Problem("The file contains null bytes, so it is not a text CSV file. Save it as CSV UTF-8.")]
    return text, []


def _undecodable_lines(content: bytes) -> list[Problem]:
    problems = []
    for number, line in enumerate(content.split(b"\n"), start=1):
        try:
            line.decode("cp1252")
        except UnicodeDecodeError as error:
            byte = line[error.start]
            problems.append(Problem(f"byte 0x{byte:02X} (character {error.start + 1}) cannot be read as text. "
                                    "Save the file as CSV UTF-8 and upload it again.", line=number))
    return _capped(problems)


# --- reading ------------------------------------------------------------------------------------------------------

def _delimiter(text: str) -> str:
    """Commas, unless the heading line has none but has semicolons (European Excel) or tabs."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "," in first:
        return ","
    if "\t" in first:
        return "\t"
    return ";" if ";" in first else ","


def read(text: str) -> RosterFile:
    """Headings and records. Blank lines (and rows of empty cells) are skipped; cells are trimmed."""
    result = RosterFile()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    last_line = 0
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            message = str(error)
            if "eof" in message.lower() or "end of data" in message.lower():
                message = "a quoted field is never closed (a \" is missing)"
            result.problems.append(Problem(f"{message}. Check the quotation marks.", line=start))
            break
        last_line = reader.line_num
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if not result.headings:
            result.headings = [cell or f"(column {n})" for n, cell in enumerate(cells, start=1)]
        else:
            result.records.append((start, cells))
    if not result.headings and not result.problems:
        result.problems.append(Problem("The file is empty: it needs a heading row and a row for each pupil."))
    return result


# --- mapping ------------------------------------------------------------------------------------------------------

def _normal(heading: str) -> str:
    return _HEADING_JUNK.sub("", heading.lower())


def guess_mapping(headings: list[str]) -> dict[str, str]:
    """Our field -> the file's heading, from common MIS headings; a heading is used for one field at most."""
    by_normal: dict[str, str] = {}
    for heading in headings:
        by_normal.setdefault(_normal(heading), heading)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for our_field, guesses in HEADING_GUESSES.items():
        for guess in guesses:
            heading = by_normal.get(_normal(guess))
            if heading is not None and heading not in used:
                mapping[our_field] = heading
                used.add(heading)
                break
    return mapping


def usable_mapping(mapping: Mapping[str, str] | None, headings: list[str]) -> dict[str, str]:
    """A remembered mapping, keeping only our fields whose heading is in this file; guesses fill the gaps."""
    guessed = guess_mapping(headings)
    kept = {name: heading for name, heading in (mapping or {}).items() if name in FIELDS and heading in headings}
    taken = set(kept.values())
    for name, heading in guessed.items():
        if name not in kept and (mapping is None or name not in mapping) and heading not in taken:
            kept[name] = heading
            taken.add(heading)
    return kept


def _mapping_problems(mapping: Mapping[str, str], headings: list[str]) -> list[Problem]:
    problems = []
    for name in FIELDS:
        heading = mapping.get(name)
        if heading and heading not in headings:
            problems.append(Problem(f"The file has no column \u201c{heading}\u201d for {FIELD_LABELS[name].lower()}.",
                                    field=name))
        elif not heading and name in REQUIRED:
            problems.append(Problem(f"Missing required column: choose the file's column for "
                                    f"{FIELD_LABELS[name].lower()}.", field=name))
    return problems


# --- values -------------------------------------------------------------------------------------------------------

def normalise_identifier(value: str) -> str:
    """Spreadsheets drop leading zeros from admission numbers ('001234' becomes 1234): treat them as the same."""
    value = value.strip()
    if value.isdigit():
        return value.lstrip("0") or "0"
    return value


def parse_year(value: str) -> int | None:
    """'10', 'Year 10', 'Y10', 'Yr 10', 'NC Year 10' → 10; 'R', 'Reception' → 0; None if not a year group."""
    compact = _HEADING_JUNK.sub("", value.lower())
    if compact in RECEPTION:
        return 0
    match = _YEAR.match(compact)
    if match is None:
        if re.fullmatch(r"\d{1,2}\.0+", value.strip()):  # Excel's 10.0
            return int(float(value))
        return None
    year = int(match.group(1))
    return year if 0 <= year <= 14 else None


def parse_flag(value: str, name: str) -> bool | None:
    """Y/N, Yes/No, True/False, 1/0 (any case); blank is no. None if it is none of these."""
    lowered = value.strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    if name == "send" and lowered in SEND_CODES:
        return SEND_CODES[lowered]
    return None


def _years_text(years: Collection[int]) -> str:
    ordered = sorted(years)
    if not ordered:
        return ""
    def label(y: int) -> str:
        return "Reception" if y == 0 else str(y)
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{label(ordered[0])} to {label(ordered[-1])}"
    return ", ".join(label(y) for y in ordered)


def _read_record(line: int, cells: list[str], columns: Mapping[str, int],
                 years: Collection[int] | None) -> tuple[RosterRow | None, list[Problem]]:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    problems: list[Problem] = []
    identifier = normalise_identifier(cell("identifier"))
    if not identifier:
        problems.append(Problem("the pupil identifier is empty.", line=line, field="identifier"))
    elif len(identifier) > IDENTIFIER_MAX:
        problems.append(Problem(f"the pupil identifier is longer than {IDENTIFIER_MAX} characters.", line=line,
                                field="identifier"))
    raw_year = cell("year_group")
    year = parse_year(raw_year)
    if year is None:
        shown = f"\u201c{raw_year}\u201d" if raw_year else "(empty)"
        problems.append(Problem(f"unknown year group {shown}: use a number such as 10, \u201cYear 10\u201d, "
                                "or R for Reception.", line=line, field="year_group"))
    elif years is not None and year not in years:
        problems.append(Problem(f"unknown year group \u201c{raw_year}\u201d for your school, which teaches years "
                                f"{_years_text(years)}.", line=line, field="year_group"))
    form_group = cell("form_group") or None
    if form_group and len(form_group) > FORM_GROUP_MAX:
        problems.append(Problem(f"the form group is longer than {FORM_GROUP_MAX} characters.", line=line,
                                field="form_group"))
    display_name = " ".join(cell("display_name").split()) or None
    if display_name and len(display_name) > DISPLAY_NAME_MAX:
        problems.append(Problem(f"the display name is longer than {DISPLAY_NAME_MAX} characters.", line=line,
                                field="display_name"))
    flags: dict[str, bool] = {}
    for name in FLAGS:
        raw = cell(name)
        value = parse_flag(raw, name)
        if value is None:
            problems.append(Problem(f"bad flag value \u201c{raw}\u201d for {FIELD_LABELS[name]}: use Y or N "
                                    "(Yes/No, True/False and 1/0 are read too; blank means no).",
                                    line=line, field=name))
        else:
            flags[name] = value
    if problems:
        return None, problems
    return RosterRow(line=line, identifier=identifier, year_group=year, form_group=form_group,
                     display_name=display_name, **flags), []


def _columns(mapping: Mapping[str, str], headings: list[str]) -> dict[str, int]:
    return {name: headings.index(heading) for name, heading in mapping.items()
            if name in FIELDS and heading and heading in headings}


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    left_out = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem(f"\u2026and {left_out} more problems not listed.")]


# --- the whole file -----------------------------------------------------------------------------------------------

def read_content(content: bytes) -> RosterFile:
    text, problems = decode(content)
    if problems:
        return RosterFile(problems=problems)
    return read(text)


def parse(content: bytes | RosterFile, mapping: Mapping[str, str], *,
          years: Collection[int] | None = None) -> ParseResult:
    """Every row, or every problem: undecodable bytes, missing required columns, then each bad record by line.

    `years`: the year groups the school teaches; others are reported (None accepts Reception to Year 14).
    """
    roster = content if isinstance(content, RosterFile) else read_content(content)
    if roster.problems:
        return ParseResult(problems=_capped(roster.problems), headings=roster.headings)
    problems = _mapping_problems(mapping, roster.headings)
    if problems:
        return ParseResult(problems=problems, headings=roster.headings)
    columns = _columns(mapping, roster.headings)
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    for line, cells in roster.records:
        row, row_problems = _read_record(line, cells, columns, years)
        identifier = row.identifier if row else normalise_identifier(
            cells[columns["identifier"]] if columns["identifier"] < len(cells) else "")
        if identifier:
            first = seen.setdefault(identifier, line)
            if first != line:
                row_problems.append(Problem(f"duplicate identifier: the same pupil identifier is on line {first}.",
                                            line=line, field="identifier"))
        problems.extend(row_problems)
        if row is not None and not row_problems:
            rows.append(row)
    if not roster.records and not problems:
        problems.append(Problem("The file has a heading row but no pupils."))
    if problems:
        return ParseResult(problems=_capped(problems), headings=roster.headings)
    return ParseResult(rows=rows, headings=roster.headings)


def preview(roster: RosterFile, mapping: Mapping[str, str], *, years: Collection[int] | None = None,
            limit: int = 5) -> list[tuple[int, dict[str, PreviewCell]]]:
    """The first records as they will be read: per our field, the value we read or why it cannot be read."""
    columns = _columns(mapping, roster.headings)
    shown = []
    for line, cells in roster.records[:limit]:
        row, problems = _read_record(line, cells, columns, years)
        by_field = {p.field: p.message for p in problems}
        values = {}
        for name in FIELDS:
            if name not in columns:
                values[name] = PreviewCell("\u2014" if name not in REQUIRED else "(no column)",
                                           None if name not in REQUIRED else "no column chosen")
                continue
            if name in by_field:
                raw = cells[columns[name]] if columns[name] < len(cells) else ""
                values[name] = PreviewCell(raw, by_field[name])
                continue
            value = getattr(row, name) if row else None
            if row is None:  # another cell is wrong: show what this one reads as on its own
                value = _read_alone(name, cells[columns[name]] if columns[name] < len(cells) else "")
            values[name] = PreviewCell(_show(name, value))
        shown.append((line, values))
    return shown


def _read_alone(name: str, raw: str):
    if name == "year_group":
        return parse_year(raw)
    if name in FLAGS:
        return parse_flag(raw, name)
    if name == "identifier":
        return normalise_identifier(raw)
    return raw or None


def _show(name: str, value) -> str:
    if value is None:
        return "\u2014"
    if name in FLAGS:
        return "Yes" if value else "No"
    if name == "year_group":
        return "Reception" if value == 0 else f"Year {value}"
    return str(value)
