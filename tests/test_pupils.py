"""Pupils: roster imports (re-imports, leavers never deleted, returning pupils), names only with the school's
opt-in, hand edits, the year-end rollover (preview, then apply; CLI), the import screens, and who may see what."""
import io
import re
from datetime import date, timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Pupil, PupilStatus, PupilYearCount, RosterMapping, RosterUpload, utcnow
from portal.services import organisations, pupils
from portal.services.pupils import PupilDetails
from portal.services.roster_import import RosterRow
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user

SUMMER = date(2027, 7, 20)


@pytest.fixture
def world(app):
    area, other_area = make_area("Burnley"), make_area("Preston")
    school = make_school(area, name="Burnley High", urn="111111")
    other_school = make_school(other_area, name="Preston Academy", urn="222222")
    world = {
        "school": school, "other_school": other_school,
        "lead": make_user(Role.CAREERS_LEAD, organisation=school),
        "other_lead": make_user(Role.CAREERS_LEAD, organisation=other_school),
        "coordinator": make_user(Role.COORDINATOR, areas=[area]),
        "provider": make_user(Role.PROVIDER, organisation=make_provider(area)),
    }
    db.session.commit()
    return world


def row(identifier: str, year: int = 9, *, line: int = 2, **fields) -> RosterRow:
    return RosterRow(line=line, identifier=identifier, year_group=year, **fields)


def import_rows(world, rows, *, full_roster=True, school=None, today=None):
    return pupils.import_roster(school or world["school"], rows, full_roster=full_roster, by=world["lead"],
                                today=today)


def pupil_of(school, identifier: str) -> Pupil:
    return db.session.scalar(select(Pupil).where(
        Pupil.school_id == school.id, Pupil.identifier_hash == pupils.identifier_hash(school.id, identifier)))


def count_pupils(school) -> int:
    return db.session.scalar(select(func.count()).select_from(Pupil).where(Pupil.school_id == school.id))


# --- importing ----------------------------------------------------------------------------------------------------

def test_import_adds_pupils_with_random_references_and_no_identifier_in_clear(world):
    summary = import_rows(world, [row("1001", 9, form_group="9A", disadvantaged=True), row("1002", 10)])
    assert (summary.added, summary.updated, summary.left, summary.unchanged) == (2, 0, 0, 0)
    stored = db.session.scalars(select(Pupil).order_by(Pupil.year_group)).all()
    assert [p.year_group for p in stored] == [9, 10]
    assert all(re.fullmatch(r"P[2-9A-HJ-NP-Z]{8}", p.reference) for p in stored)
    assert stored[0].reference != stored[1].reference
    assert stored[0].form_group == "9A" and stored[0].disadvantaged and not stored[1].disadvantaged
    assert all("1001" not in p.identifier_hash and len(p.identifier_hash) == 64 for p in stored)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pupils.import"))
    assert "2 added" in event.detail and event.actor_id == world["lead"].id


def test_the_same_identifier_at_two_schools_gives_unrelated_hashes(world, app):
    assert pupils.identifier_hash(1, "1001") != pupils.identifier_hash(2, "1001")
    assert pupils.identifier_hash(1, "001001") == pupils.identifier_hash(1, "1001")
    before = pupils.identifier_hash(1, "1001")
    app.config["PUPIL_ID_KEY"] = "another-key-entirely-0123456789abcdef"
    assert pupils.identifier_hash(1, "1001") != before


def test_a_reimport_updates_changed_pupils_and_leaves_the_rest(world):
    import_rows(world, [row("1001", 9, form_group="9A"), row("1002", 9, form_group="9B")])
    first = pupil_of(world["school"], "1001")
    reference = first.reference
    summary = import_rows(world, [row("1001", 9, form_group="9C", at_risk=True), row("1002", 9, form_group="9B"),
                                  row("1003", 9)])
    assert (summary.added, summary.updated, summary.unchanged, summary.left) == (1, 1, 1, 0)
    first = pupil_of(world["school"], "1001")
    assert first.reference == reference and first.form_group == "9C" and first.at_risk


def test_a_full_roster_marks_missing_pupils_as_left_never_deleting_them(world):
    import_rows(world, [row("1001"), row("1002"), row("1003")])
    summary = import_rows(world, [row("1001"), row("1002")], today=date(2026, 12, 1))
    assert summary.left == 1
    gone = pupil_of(world["school"], "1003")
    assert gone.status == PupilStatus.LEFT and gone.left_on == date(2026, 12, 1)
    assert count_pupils(world["school"]) == 3


def test_a_partial_file_leaves_missing_pupils_alone(world):
    import_rows(world, [row("1001"), row("1002")])
    summary = import_rows(world, [row("1003")], full_roster=False)
    assert (summary.added, summary.left) == (1, 0)
    assert pupil_of(world["school"], "1001").status == PupilStatus.ON_ROLL


def test_a_pupil_who_reappears_returns_to_roll_with_the_same_reference(world):
    import_rows(world, [row("1001"), row("1002")])
    reference = pupil_of(world["school"], "1002").reference
    import_rows(world, [row("1001")])
    summary = import_rows(world, [row("1001"), row("1002")])
    assert (summary.returned, summary.updated, summary.added) == (1, 1, 0)
    back = pupil_of(world["school"], "1002")
    assert back.status == PupilStatus.ON_ROLL and back.left_on is None and back.reference == reference


def test_names_are_stored_only_when_the_school_opts_in(world):
    summary = import_rows(world, [row("1001", display_name="Zoë Brontë")])
    assert summary.names_ignored and "Names were not stored" in summary.message
    assert pupil_of(world["school"], "1001").display_name is None
    world["school"].names_opt_in = True
    db.session.commit()
    summary = import_rows(world, [row("1001", display_name="Zoë Brontë")])
    assert not summary.names_ignored and summary.updated == 1
    assert pupil_of(world["school"], "1001").display_name == "Zoë Brontë"


def test_turning_names_off_deletes_the_stored_names(world):
    school = world["school"]
    school.names_opt_in = True
    db.session.commit()
    import_rows(world, [row("1001", display_name="Amir Khan"), row("1002", display_name="Jo Smith")])
    organisations.update_organisation(school, by=world["lead"], expected_version=school.version,
                                      changes={"names_opt_in": False})
    names = db.session.scalars(select(Pupil.display_name).where(Pupil.school_id == school.id)).all()
    assert names == [None, None]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation.edit"))
    assert "2 stored pupil names deleted" in event.detail


def test_only_the_schools_careers_leads_import(world):
    with pytest.raises(NotAllowed):
        pupils.import_roster(world["school"], [row("1")], full_roster=False, by=world["other_lead"])
    with pytest.raises(NotAllowed):
        pupils.import_roster(world["school"], [row("1")], full_roster=False, by=world["coordinator"])
    assert count_pupils(world["school"]) == 0


# --- by hand ------------------------------------------------------------------------------------------------------

def test_add_edit_and_mark_left_by_hand(world):
    school, lead = world["school"], world["lead"]
    pupil = pupils.add_pupil(school, PupilDetails(year_group=8, identifier="777", form_group="8A"), by=lead)
    with pytest.raises(ValidationFailed) as caught:
        pupils.add_pupil(school, PupilDetails(year_group=8, identifier="0777"), by=lead)
    assert caught.value.field == "identifier" and pupil.reference in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        pupils.add_pupil(school, PupilDetails(year_group=3, identifier="778"), by=lead)
    assert caught.value.field == "year_group"
    version = pupil.version
    pupils.edit_pupil(pupil, PupilDetails(year_group=9, form_group="9A", send=True), expected_version=version,
                      by=lead)
    assert (pupil.year_group, pupil.form_group, pupil.send) == (9, "9A", True)
    with pytest.raises(StaleEdit):
        pupils.edit_pupil(pupil, PupilDetails(year_group=10), expected_version=version, by=lead)
    pupils.mark_left(pupil, by=lead, today=date(2027, 1, 5))
    assert pupil.status == PupilStatus.LEFT and pupil.left_on == date(2027, 1, 5)
    with pytest.raises(InvalidState):
        pupils.mark_left(pupil, by=lead)
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["pupil.add", "pupil.edit", "pupil.left"]
    assert all("777" not in (e.detail or "") for e in db.session.scalars(select(AuditEvent)))


def test_a_hand_edit_keeps_names_out_unless_opted_in(world):
    pupil = pupils.add_pupil(world["school"], PupilDetails(year_group=8, identifier="9", display_name="Amir"),
                             by=world["lead"])
    assert pupil.display_name is None


# --- rollover -----------------------------------------------------------------------------------------------------

def years_of(school) -> list[tuple[int, str]]:
    return sorted(db.session.execute(select(Pupil.year_group, Pupil.status).where(Pupil.school_id == school.id)).all())


def test_rollover_previews_then_applies(world):
    school = world["school"]  # years 7–11 recorded: no sixth form
    import_rows(world, [row("1", 7), row("2", 10), row("3", 11), row("4", 11)])
    preview = pupils.rollover(school, apply=False, today=SUMMER)
    assert years_of(school) == [(7, "on_roll"), (10, "on_roll"), (11, "on_roll"), (11, "on_roll")]
    text = "\n".join(preview.lines())
    assert "into 2027/28" in text and "Year 7 \u2192 Year 8: 1" in text and "Year 11 \u2192 left: 2" in text
    assert "--apply" in text
    result = pupils.rollover(school, apply=True, today=SUMMER)
    assert result.applied
    assert years_of(school) == [(8, "on_roll"), (11, "left"), (11, "left"), (11, "on_roll")]
    assert pupil_of(school, "3").left_on == SUMMER
    # Running it again in the same summer does not move anyone a second year.
    again = pupils.rollover(school, apply=True, today=SUMMER + timedelta(days=3))
    assert again.schools[0].already_done
    assert years_of(school) == [(8, "on_roll"), (11, "left"), (11, "left"), (11, "on_roll")]


def test_rollover_keeps_year_11_in_a_sixth_form_and_year_13_leaves(world, app):
    school = make_school(world["school"].area, phase="secondary", year_sizes={y: 100 for y in range(7, 14)})
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    db.session.commit()
    pupils.import_roster(school, [row("1", 11), row("2", 12), row("3", 13)], full_roster=True, by=lead)
    pupils.rollover(school, apply=True, today=SUMMER)
    assert years_of(school) == [(12, "on_roll"), (13, "left"), (13, "on_roll")]


def test_rollover_of_a_school_without_recorded_sizes_uses_its_phase(world):
    primary = make_school(world["school"].area, phase="primary", year_sizes={})
    lead = make_user(Role.CAREERS_LEAD, organisation=primary)
    db.session.commit()
    pupils.import_roster(primary, [row("1", 0), row("2", 6)], full_roster=True, by=lead)
    pupils.rollover(None, apply=True, today=SUMMER)
    assert years_of(primary) == [(1, "on_roll"), (6, "left")]


def test_rollover_command_previews_unless_applied(world, runner):
    import_rows(world, [row("1", 9), row("2", 11)])
    result = runner.invoke(args=["pupils", "rollover", "--school", "111111", "--today", "2027-07-20"])
    assert result.exit_code == 0, result.output
    assert "Preview" in result.output and "Year 9 \u2192 Year 10: 1" in result.output
    assert years_of(world["school"]) == [(9, "on_roll"), (11, "on_roll")]
    result = runner.invoke(args=["pupils", "rollover", "--school", "111111", "--today", "2027-07-20", "--apply"])
    assert result.exit_code == 0 and "Rolled over" in result.output
    assert years_of(world["school"]) == [(10, "on_roll"), (11, "left")]
    assert runner.invoke(args=["pupils", "rollover", "--school", "999999"]).exit_code != 0
    bad_date = runner.invoke(args=["pupils", "rollover", "--today", "July"])
    assert bad_date.exit_code != 0 and "2026-07-24" in bad_date.output


# --- pages --------------------------------------------------------------------------------------------------------

def page_text(response) -> str:
    return unescape(response.get_data(as_text=True))


def test_the_list_shows_names_only_when_stored_and_filters(world, client, login):
    school = world["school"]
    school.names_opt_in = True
    db.session.commit()
    import_rows(world, [row("1", 9, display_name="Zoë Brontë", at_risk=True, form_group="9A"),
                        row("2", 10, display_name="Amir Khan")])
    login(world["lead"])
    text = page_text(client.get("/pupils"))
    assert "Zoë Brontë" in text and "Amir Khan" in text
    text = page_text(client.get("/pupils?flag=at_risk"))
    assert "Zoë Brontë" in text and "Amir Khan" not in text
    text = page_text(client.get("/pupils?year=10"))
    assert "Amir Khan" in text and "Zoë Brontë" not in text
    reference = pupil_of(school, "1").reference
    text = page_text(client.get(f"/pupils?q={reference.lower()}"))
    assert reference in text and "Amir Khan" not in text
    assert "Amir Khan" in page_text(client.get("/pupils?q=amir"))
    assert client.get("/pupils?year=banana&status=nope&page=-3").status_code == 200  # bad filters ignored
    school.names_opt_in = False
    db.session.commit()
    pupils.forget_names(school)
    db.session.commit()
    text = page_text(client.get("/pupils?q=amir"))
    assert "Amir" not in text and "<th scope=\"col\">Name</th>" not in text


def test_the_list_pages_by_fifty_and_shows_leavers_on_request(world, client, login):
    import_rows(world, [row(str(n), 7 + n % 5) for n in range(60)])
    pupils.mark_left(pupil_of(world["school"], "0"), by=world["lead"])
    login(world["lead"])
    first = page_text(client.get("/pupils"))
    assert "Showing 1–50 of 59" in first
    assert "Showing 1–1 of 1" in page_text(client.get("/pupils?status=left"))
    assert "of 60" in page_text(client.get("/pupils?status=all&page=2"))


def test_adding_a_pupil_shows_problems_beside_the_fields_and_keeps_the_input(world, client, login):
    login(world["lead"])
    response = client.post("/pupils/new", data={"identifier": "", "year_group": "", "form_group": "9Z"})
    text = page_text(response)
    assert response.status_code == 200 and "There is a problem" in text
    assert 'id="identifier-error"' in text and 'id="year_group-error"' in text and 'value="9Z"' in text
    response = client.post("/pupils/new", data={"identifier": "55", "year_group": "9", "send": "y"})
    assert response.status_code == 302
    pupil = pupil_of(world["school"], "55")
    assert response.headers["Location"].endswith(f"/pupils/{pupil.id}") and pupil.send
    response = client.post("/pupils/new", data={"identifier": "055", "year_group": "9"})
    assert 'id="identifier-error"' in page_text(response) and "already on your roster" in page_text(response)
    assert count_pupils(world["school"]) == 1


def test_the_pupil_page_edit_and_leave(world, client, login):
    import_rows(world, [row("1", 9)])
    pupil = pupil_of(world["school"], "1")
    db.session.add(PupilYearCount(pupil_id=pupil.id, academic_year=2025, contacts=2, attended=3))
    pupil.contacts = 2
    db.session.commit()
    login(world["lead"])
    text = page_text(client.get(f"/pupils/{pupil.id}"))
    assert pupil.reference in text and "2025/26" in text and "Year 9" in text
    version = pupil.version
    response = client.post(f"/pupils/{pupil.id}/edit", data={"year_group": "10", "form_group": "10B",
                                                              "version": str(version)})
    assert response.status_code == 302
    db.session.refresh(pupil)
    assert pupil.year_group == 10
    response = client.post(f"/pupils/{pupil.id}/edit", data={"year_group": "11", "version": str(version)})
    assert response.status_code == 409 and "changed by someone else" in page_text(response)
    assert '<option selected value="11">' in page_text(response)  # the input is kept
    assert "Mark pupil" in page_text(client.get(f"/pupils/{pupil.id}/leave"))
    response = client.post(f"/pupils/{pupil.id}/leave", follow_redirects=True)
    assert "is marked as left" in page_text(response)
    db.session.refresh(pupil)
    assert pupil.status == PupilStatus.LEFT


def upload(client, name: str, content: bytes):
    return client.post("/pupils/import", data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def test_importing_a_bad_file_imports_nothing_then_a_clean_one_does(world, client, login):
    login(world["lead"])
    bad = b"Adno,Year,Reg,FSM\n1,Year 9,9A,Y\n2,Year 99,9A,N\n1,Year 9,9A,N\n"
    response = upload(client, "roster.csv", bad)
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    text = page_text(client.get(mapping_url))
    assert '<th scope="row">2</th>' in text and '<option selected value="Adno">' in text  # preview, guessed mapping
    response = client.post(mapping_url, data={"identifier": "Adno", "year_group": "Year", "form_group": "Reg",
                                              "disadvantaged": "FSM", "action": "import", "full_roster": "y"})
    text = page_text(response)
    assert response.status_code == 422 and "nothing was imported" in text
    assert "Line 3: unknown year group \u201cYear 99\u201d" in text
    assert "Line 4: duplicate identifier: the same pupil identifier is on line 2." in text
    assert count_pupils(world["school"]) == 0
    assert db.session.get(RosterMapping, world["school"].id).mapping["disadvantaged"] == "FSM"

    good = "Admission No,Name,Year Group,Tutor,PP\r\n1,Zoë,Year 9,9A,Y\r\n2,Al,10,10A,N\r\n".encode("cp1252")
    response = upload(client, "roster.csv", good)
    mapping_url = response.headers["Location"]
    assert "Zoë" not in page_text(client.get(mapping_url))  # names are not stored, so not previewed either
    world["school"].names_opt_in = True
    db.session.commit()
    assert "Zoë" in page_text(client.get(mapping_url))  # the preview reads Windows-1252
    response = client.post(mapping_url, data={"identifier": "Admission No", "year_group": "Year Group",
                                              "form_group": "Tutor", "disadvantaged": "PP", "display_name": "Name",
                                              "action": "import"}, follow_redirects=True)
    text = page_text(response)
    assert "Roster imported: 2 added, 0 updated, 0 marked as left, 0 unchanged." in text
    assert count_pupils(world["school"]) == 2
    assert pupil_of(world["school"], "1").disadvantaged and pupil_of(world["school"], "1").display_name == "Zoë"
    assert db.session.scalar(select(func.count()).select_from(RosterUpload)) == 1  # the bad one waits a day
    assert client.get(mapping_url).status_code == 302  # an imported upload is gone


def test_a_missing_required_column_shows_beside_its_select(world, client, login):
    login(world["lead"])
    mapping_url = upload(client, "r.csv", b"Adno,Reg\n1,9A\n").headers["Location"]
    response = client.post(mapping_url, data={"identifier": "Adno", "action": "import"})
    text = page_text(response)
    assert response.status_code == 422 and 'id="year_group-error"' in text and "Missing required column" in text


def test_the_preview_button_changes_nothing(world, client, login):
    login(world["lead"])
    mapping_url = upload(client, "r.csv", b"A,B\n1,9\n").headers["Location"]
    response = client.post(mapping_url, data={"identifier": "A", "year_group": "B", "action": "preview"})
    assert response.status_code == 200 and "Year 9" in page_text(response)
    assert count_pupils(world["school"]) == 0


def test_uploads_must_be_csv_and_old_ones_are_purged(world, client, login):
    login(world["lead"])
    response = upload(client, "roster.xlsx", b"PK\x03\x04")
    assert response.status_code == 200 and "Choose a CSV file" in page_text(response)
    old = RosterUpload(token="old-token", school_id=world["other_school"].id, filename="old.csv", content=b"x",
                       created_at=utcnow() - timedelta(days=2))
    db.session.add(old)
    db.session.commit()
    assert upload(client, "roster.csv", b"Adno,Year\n1,9\n").status_code == 302
    assert db.session.scalar(select(RosterUpload).where(RosterUpload.token == "old-token")) is None


def test_other_schools_pupils_and_uploads_are_refused(world, client, login):
    import_rows(world, [row("1", 9)])
    pupil = pupil_of(world["school"], "1")
    stored = pupils.create_upload(world["school"], filename="r.csv", content=b"Adno,Year\n1,9\n", by=world["lead"])
    login(world["other_lead"])
    for path in (f"/pupils/{pupil.id}", f"/pupils/{pupil.id}/edit", f"/pupils/{pupil.id}/leave",
                 f"/pupils/import/{stored.token}"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/pupils/{pupil.id}/leave").status_code == 403
    assert pupil.reference not in page_text(client.get("/pupils"))
    for user in ("coordinator", "provider"):
        login(world[user])
        assert client.get("/pupils").status_code == 403
        assert client.get(f"/pupils/{pupil.id}").status_code == 403
    assert client.get("/pupils/999999").status_code in (403, 404)
    db.session.refresh(pupil)
    assert pupil.status == PupilStatus.ON_ROLL


def test_an_unreadable_file_is_explained_on_the_mapping_page(world, client, login):
    login(world["lead"])
    mapping_url = upload(client, "r.csv", b"Adno,Year\nD1,7\nD2,8\x81\n").headers["Location"]
    response = client.get(mapping_url)
    assert response.status_code == 200 and "Line 3: byte 0x81" in page_text(response)
    response = client.post(mapping_url, data={"action": "import"})
    assert response.status_code == 422 and count_pupils(world["school"]) == 0


STRONG_SECRET = "kJ8-vQ2_pL5zR9wX3nT7yB1mC6dF0gH4sA"


@pytest.mark.parametrize("key", [None, "", "dev", "short", "b" * 64, STRONG_SECRET[:20]])
def test_production_refuses_a_missing_or_weak_pupil_id_key(key):
    from portal import create_app

    overrides = {"SECRET_KEY": STRONG_SECRET, "PUPIL_ID_KEY": key, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(RuntimeError, match="PUPIL_ID_KEY"):
        create_app("production", overrides)


def test_production_accepts_a_strong_pupil_id_key():
    from portal import create_app

    app = create_app("production", {"SECRET_KEY": STRONG_SECRET, "PUPIL_ID_KEY": "Zx9-Qw3_Er7Ty1Ui5Op0As4Df8Gh2Jk6L",
                                    "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["PUPIL_ID_KEY"].startswith("Zx9")
