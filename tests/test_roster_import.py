"""The roster parser on messy real-world exports (tests/data/rosters/, kept byte for byte): encodings, line endings,
quoting, blank lines, and every bad row reported with the line it starts on. Pure: no app, no database."""
from pathlib import Path

import pytest

from portal.services import roster_import
from portal.services.roster_import import guess_mapping, parse, parse_flag, parse_year, read_content

DATA = Path(__file__).parent / "data" / "rosters"


def load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse_file(name: str, mapping=None, **kwargs):
    content = load(name)
    roster = read_content(content)
    return parse(content, mapping or guess_mapping(roster.headings), **kwargs)


def test_sims_export_with_bom_and_crlf_is_read_and_mapped():
    roster = read_content(load("sims_bom_crlf.csv"))
    assert roster.headings[0] == "Adno"  # the BOM is not part of the first heading
    assert guess_mapping(roster.headings) == {
        "identifier": "Adno", "year_group": "Year", "form_group": "Reg", "display_name": "Name",
        "disadvantaged": "Pupil Premium", "send": "SEN Status", "at_risk": "RONI",
    }
    result = parse_file("sims_bom_crlf.csv")
    assert result.ok, result.problems
    amir, zoe, siobhan, jo = result.rows
    assert (amir.line, amir.identifier, amir.year_group, amir.form_group) == (2, "1234", 10, "10A")
    assert amir.disadvantaged and not amir.send and not amir.at_risk
    assert zoe.display_name == "Zoë Brontë" and zoe.year_group == 10 and zoe.send and zoe.at_risk  # K: SEN support
    assert siobhan.year_group == 11 and siobhan.send and siobhan.display_name == "Siobhán O'Neill"  # E: EHC plan
    assert jo.year_group == 7 and not (jo.disadvantaged or jo.send or jo.at_risk)  # blank flags mean no
    assert all(not row.form_group.endswith("\r") for row in result.rows)


def test_windows_1252_quoted_commas_line_breaks_blank_lines_and_trailing_spaces():
    result = parse_file("arbor_cp1252.csv")
    assert result.ok, result.problems
    assert [row.identifier for row in result.rows] == ["A100", "A101", "A102", "A103"]
    zoe, francois, chloe, sid = result.rows
    assert zoe.display_name == "Brontë, Zoë"
    assert (zoe.year_group, zoe.form_group, zoe.disadvantaged, zoe.send, zoe.at_risk) == (9, "9X", True, False, False)
    assert francois.display_name == "Müller, François"  # the line break inside quotes becomes a space
    assert francois.line == 4  # line 3 is blank
    assert chloe.line == 7 and chloe.identifier == "A102" and chloe.year_group == 0 and chloe.form_group is None
    assert sid.line == 9 and sid.display_name == 'Said "Sid" Ali' and sid.at_risk  # a row of empty cells skipped


def test_every_bad_row_is_reported_with_the_line_it_starts_on_and_nothing_is_returned():
    result = parse_file("bad_rows.csv")
    assert not result.ok and result.rows == []
    texts = [problem.text for problem in result.problems]
    # Line 2's quoted name spans lines 2 and 3, so B2 starts on line 4.
    assert texts[0].startswith("Line 4: unknown year group \u201cYear 15\u201d")
    assert texts[1] == "Line 5: duplicate identifier: the same pupil identifier is on line 2."
    assert texts[2].startswith("Line 6: bad flag value \u201cmaybe\u201d for Disadvantaged")
    assert texts[3] == "Line 7: the pupil identifier is empty."
    assert texts[4].startswith("Line 8: unknown year group \u201cYear Ten\u201d")
    assert len(texts) == 5  # line 9 is fine
    assert [p.field for p in result.problems] == ["year_group", "identifier", "disadvantaged", "identifier",
                                                   "year_group"]


def test_a_missing_required_column_is_a_file_level_problem():
    result = parse_file("missing_year.csv")
    assert not result.ok
    (problem,) = result.problems
    assert problem.line is None and problem.field == "year_group"
    assert "Missing required column" in problem.message


def test_a_mapped_heading_absent_from_the_file_is_reported():
    result = parse(load("missing_year.csv"), {"identifier": "Adno", "year_group": "NC Year"})
    assert [p.field for p in result.problems] == ["year_group"]
    assert "\u201cNC Year\u201d" in result.problems[0].message


def test_undecodable_bytes_are_reported_with_their_line():
    result = parse(load("undecodable.csv"), {"identifier": "Adno", "year_group": "Year"})
    assert not result.ok
    (problem,) = result.problems
    assert problem.line == 3 and "0x81" in problem.message


def test_year_groups_outside_the_schools_phase_are_refused():
    result = parse_file("arbor_cp1252.csv", years=range(7, 14))
    assert [(p.line, p.field) for p in result.problems] == [(7, "year_group")]
    assert "teaches years 7 to 13" in result.problems[0].message


def test_an_unclosed_quote_is_reported_where_the_record_starts():
    content = b'Adno,Year,Name\nE1,7,"Open\nE2,8,Fine\n'
    result = parse(content, {"identifier": "Adno", "year_group": "Year", "display_name": "Name"})
    assert [(p.line, "quot" in p.message) for p in result.problems] == [(2, True)]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "The file is empty"),
    (b"\r\n\r\n", "The file is empty"),
    (b"Adno,Year\r\n", "no pupils"),
    (b"PK\x03\x04rest-of-a-zip", "Excel workbook"),
])
def test_empty_or_wrong_files_say_what_is_wrong(content, message):
    result = parse(content, {"identifier": "Adno", "year_group": "Year"})
    assert [message in p.message for p in result.problems] == [True]


def test_semicolon_and_tab_separated_exports_are_read():
    for separator in (";", "\t"):
        content = separator.join(["Adno", "Year", "Reg"]).encode() + b"\n" + separator.join(["F1", "8", "8A"]).encode()
        result = parse(content, guess_mapping(read_content(content).headings))
        assert result.ok and result.rows[0].form_group == "8A"


def test_utf16_from_excel_unicode_text_is_read():
    content = "Adno\tYear\nG1\tYear 12\n".encode("utf-16")
    result = parse(content, {"identifier": "Adno", "year_group": "Year"})
    assert result.ok and result.rows[0].year_group == 12


@pytest.mark.parametrize(("value", "year"), [
    ("10", 10), ("Year 10", 10), ("Y10", 10), ("Yr 10", 10), ("yr10", 10), ("NC Year 7", 7), ("Year 7", 7),
    ("R", 0), ("Reception", 0), ("YR", 0), ("14", 14), ("10.0", 10),
    ("", None), ("Year Ten", None), ("15", None), ("Y-1x", None), ("Sixth form", None),
])
def test_year_group_spellings(value, year):
    assert parse_year(value) == year


@pytest.mark.parametrize(("value", "expected"), [
    ("Y", True), ("yes", True), ("TRUE", True), ("1", True), ("t", True),
    ("N", False), ("No", False), ("false", False), ("0", False), ("", False), ("  ", False),
    ("maybe", None), ("2", None), ("K", None),
])
def test_flag_values(value, expected):
    assert parse_flag(value, "disadvantaged") is expected


def test_sims_sen_codes_only_for_send():
    assert parse_flag("K", "send") is True and parse_flag("E", "send") is True and parse_flag("N", "send") is False
    assert parse_flag("K", "at_risk") is None


@pytest.mark.parametrize(("headings", "expected"), [
    (["Admission No", "Year Group", "Registration Form", "Pupil Premium", "SEND", "RONI"],
     {"identifier": "Admission No", "year_group": "Year Group", "form_group": "Registration Form",
      "disadvantaged": "Pupil Premium", "send": "SEND", "at_risk": "RONI"}),
    (["Admission Number", "Tutor Group", "NC Year", "FSM", "SEN"],
     {"identifier": "Admission Number", "form_group": "Tutor Group", "year_group": "NC Year", "disadvantaged": "FSM",
      "send": "SEN"}),
    (["Forename", "Surname", "DOB"], {}),
])
def test_mapping_guessed_from_common_mis_headings(headings, expected):
    assert guess_mapping(headings) == expected


def test_a_remembered_mapping_wins_and_guesses_fill_only_fields_it_never_set():
    headings = ["Adno", "Year", "Reg", "Name"]
    remembered = {"identifier": "Adno", "year_group": "Year", "display_name": "Gone"}
    assert roster_import.usable_mapping(remembered, headings) == {"identifier": "Adno", "year_group": "Year",
                                                                   "form_group": "Reg"}
    assert roster_import.usable_mapping(None, headings)["display_name"] == "Name"


def test_leading_zeros_dropped_by_a_spreadsheet_still_mean_the_same_pupil():
    content = b"Adno,Year\n001234,7\n1234,8\n"
    result = parse(content, {"identifier": "Adno", "year_group": "Year"})
    expected = "Line 3: duplicate identifier: the same pupil identifier is on line 2."
    assert [p.text for p in result.problems] == [expected]


def test_preview_shows_values_as_read_and_problems_per_cell():
    roster = read_content(load("bad_rows.csv"))
    rows = roster_import.preview(roster, guess_mapping(roster.headings), limit=3)
    assert [line for line, _ in rows] == [2, 4, 5]
    first = rows[0][1]
    assert first["year_group"].value == "Year 10" and first["disadvantaged"].value == "No"
    assert first["display_name"].value == "Two Lines"
    assert rows[1][1]["year_group"].problem.startswith("unknown year group")
    assert rows[1][1]["form_group"].value == "10T"  # the rest of a bad row is still shown


def test_a_wrong_column_reports_each_row_but_the_list_is_capped():
    content = b"Adno,Year\n" + b"".join(f"H{n},x\n".encode() for n in range(700))
    result = parse(content, {"identifier": "Adno", "year_group": "Year"})
    assert len(result.problems) == roster_import.MAX_PROBLEMS + 1
    assert result.problems[-1].message.startswith("\u2026and 200 more")
