"""Pupils and the road to four, in a real browser with axe-core on every page: the careers lead imports a roster
(a bad file first: every problem with its line, nothing imported; then a clean one through the mapping screen),
chooses who goes to a session from the suggestion, records attendance with the four criteria, and sees the counts,
the chart's table and the pupil's timeline move."""
import re
from datetime import date, datetime, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import Match, MatchStatus, Pupil, RegisterEntry
from portal.services import match_lifecycle
from tests.browser.test_marketplace import LEAD_EMAIL, arrive, flash, seed_world, sign_in
from tests.factories import make_offer, make_request

pytestmark = pytest.mark.browser

BAD_FILE = (b"Admission No,Year,Reg Group,Pupil Premium\r\n"
            b"A001,Year 9,9A,Y\r\n"
            b"A002,Year 42,9A,N\r\n"
            b"A001,Year 10,10B,N\r\n")
CLEAN_FILE = (b"\xef\xbb\xbfAdmission No,Year,Reg Group,Pupil Premium,SEN,RONI\r\n"
              b"A001,Year 9,9A,Y,N,N\r\n"
              b"A002,Year 9,9A,N,N,Y\r\n"
              b"A003,Year 9,9B,N,Y,N\r\n"
              b"A004,Year 10,10A,N,N,N\r\n"
              b"A005,Year 10,10A,N,N,N\r\n"
              b"A006,Year 8,8C,N,N,N\r\n")
TALK = "Meet our engineering apprentices"


def upload(page: Page, name: str, content: bytes) -> None:
    page.goto("/pupils/import")
    arrive(page, re.compile("Import"))
    page.get_by_label("Roster file (CSV)").set_input_files({"name": name, "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name=re.compile("Upload|Continue|Check")).click()
    arrive(page, "Check the columns")


def progress_table(page: Page) -> dict[str, dict[str, str]]:
    """The chart's data table: {row heading: {column heading: cell}}."""
    table = page.get_by_role("table", name=re.compile("Pupils on roll at each number of contacts"))
    return table.evaluate("""t => {
        const heads = [...t.querySelectorAll('thead th')].map(th => th.textContent.trim());
        const rows = {};
        for (const tr of t.querySelectorAll('tbody tr, tfoot tr')) {
            const cells = [...tr.children].map(c => c.textContent.trim());
            rows[cells[0]] = Object.fromEntries(heads.map((h, i) => [h, cells[i]]));
        }
        return rows;
    }""")


def chart_titles(page: Page) -> list[str]:
    """The chart's bar segments, as their titles say: "Year 9: 2 at 1"."""
    return page.locator("figure.progress-chart svg rect title").all_text_contents()


def at_one(titles: list[str]) -> dict[str, int]:
    """Pupils at 1 contact per year group, read from the chart's segments."""
    found = (re.fullmatch(r"(.+): (\d+) at 1", title.strip()) for title in titles)
    return {m.group(1): int(m.group(2)) for m in found if m}


def seed_session(live_server, world) -> int:
    """A confirmed talk for Years 9 and 10 of the lead's school, scheduled (yesterday, for a time now past)."""

    def create() -> int:
        from portal.models import Organisation, User

        offer = make_offer(db.session.get(Organisation, world.provider_id), title=TALK, year_groups=(9, 10),
                           starts_in_days=-7)
        school_request = make_request(db.session.get(Organisation, world.school_id), year_groups=(9, 10),
                                      starts_in_days=-7)
        match = Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=3,
                      origin="school_asked", status=MatchStatus.CONFIRMED)
        offer.allocated = 3
        db.session.add(match)
        db.session.commit()
        lead = db.session.scalar(db.select(User).filter_by(email=LEAD_EMAIL))
        starts_at = datetime.combine(date.today(), time(0)) - timedelta(hours=2)
        match_lifecycle.schedule_match(
            match, match_lifecycle.SessionDetails(starts_at=starts_at, minutes=60, place="School hall", link=None,
                                                  contact="Joanne Whittaker"),
            by=lead, now=starts_at - timedelta(days=1))
        return match.id

    return live_server.run(create)


def test_careers_lead_imports_a_roster_fills_a_session_and_sees_the_counts_move(page, live_server):
    world = seed_world(live_server)
    sign_in(page, live_server, LEAD_EMAIL, welcome="Joanne Whittaker")

    # A bad file: every problem is listed with its line, and nothing is imported.
    upload(page, "bad.csv", BAD_FILE)
    page.get_by_role("button", name="Import pupils").click()
    arrive(page, "Check the columns")
    summary = page.get_by_role("alert").filter(has_text="nothing was imported")
    expect(summary).to_contain_text("Line 3: unknown year group")
    expect(summary).to_contain_text("Line 4: duplicate identifier: the same pupil identifier is on line 2.")
    assert live_server.run(lambda: db.session.scalar(db.select(db.func.count(Pupil.id)))) == 0

    # A clean file (with a byte-order mark and CRLF): the columns are mapped, previewed, then imported.
    upload(page, "roster.csv", CLEAN_FILE)
    for label, heading in (("Pupil identifier", "Admission No"), ("Year group", "Year"),
                           ("Form group", "Reg Group"), ("Disadvantaged (pupil premium / FSM)", "Pupil Premium"),
                           ("SEND", "SEN"), ("At risk of NEET (RONI)", "RONI")):
        page.get_by_label(label, exact=True).select_option(heading)
    page.get_by_role("button", name="Update the preview").click()
    arrive(page, "Check the columns")
    preview = page.get_by_role("table", name=re.compile("as they will be read"))
    expect(preview.locator("tbody tr")).to_have_count(5)
    expect(preview.locator("tbody tr").first).to_contain_text("9A")
    page.get_by_label("This is our full roster").check()
    page.get_by_role("button", name="Import pupils").click()
    arrive(page, re.compile("Pupils"))
    expect(flash(page)).to_contain_text("Roster imported: 6 added, 0 updated, 0 marked as left, 0 unchanged.")

    # Progress before the session: nobody has a contact.
    page.goto("/progress")
    arrive(page, "Progress toward 4")
    before = progress_table(page)
    before_chart = chart_titles(page)
    assert before["Year 9"]["0"] == "3" and before["Year 9"]["1"] == "0"
    assert before["Year 10"]["0"] == "2" and before["Year 10"]["1"] == "0"

    # The session: choose who goes, keeping the suggestion (who-to-send order: at risk, then disadvantaged).
    match_id = seed_session(live_server, world)
    page.goto(f"/matches/{match_id}")
    arrive(page, re.compile(TALK))
    page.get_by_role("link", name="Choose who goes").first.click()
    arrive(page, re.compile("^Who goes: "))
    suggested = page.locator("input[name=pupil_ids]:checked")
    expect(suggested).to_have_count(3)
    rows = page.get_by_role("table", name=re.compile("who-to-send order")).locator("tbody tr")
    expect(rows.first).to_contain_text("At risk of NEET")
    expect(rows.nth(1)).to_contain_text("Disadvantaged")
    page.get_by_role("button", name="Save the register").click()
    arrive(page, re.compile(TALK))
    expect(flash(page)).to_contain_text("The register is saved: 3 going (+3, −0).")

    # After the session: those sent attended; the four criteria are ticked.
    page.get_by_role("link", name="Record attendance").first.click()
    arrive(page, re.compile("^Attendance: "))
    expect(page.locator("input[name=attended]:checked")).to_have_count(3)
    for criterion in ("Purpose shared", "Learning outcomes", "Two-way interaction", "Time to reflect"):
        page.get_by_label(criterion, exact=True).check()
    page.get_by_label("Reflections (optional)").fill("Good questions about apprenticeships.")
    page.get_by_role("button", name="Save the attendance").click()
    arrive(page, re.compile(TALK))
    expect(flash(page)).to_contain_text("Recorded: 3 of 3")

    # The counts and the chart moved: three more pupils at 1 contact, as many fewer at 0.
    page.goto("/progress")
    arrive(page, "Progress toward 4")
    after = progress_table(page)
    moved = sum(int(after[y]["1"]) - int(before[y]["1"]) for y in ("Year 9", "Year 10"))
    assert moved == 3
    assert sum(int(before[y]["0"]) - int(after[y]["0"]) for y in ("Year 9", "Year 10")) == 3
    assert after["Year 8"] == before["Year 8"]
    assert sum(at_one(chart_titles(page)).values()) == 3 and at_one(before_chart) == {}

    # The pupil's timeline shows the session, counted.
    attended = live_server.run(lambda: db.session.scalars(
        db.select(Pupil.reference).join(RegisterEntry, RegisterEntry.pupil_id == Pupil.id)
        .where(RegisterEntry.match_id == match_id, RegisterEntry.attended.is_(True))).first())
    page.get_by_role("link", name=attended, exact=True).click()
    arrive(page, f"Pupil {attended}")
    timeline = page.get_by_role("table", name=re.compile("Every session this pupil was sent to"))
    expect(timeline).to_contain_text("Pennine Aerostructures Ltd")
    expect(timeline).to_contain_text("Careers talk")
