"""The internship programme after the rota: weekly feedback links and the public form, coaching, signposting, the
control group, completing the programme, follow-ups and their reminders, and the evaluation page."""
import hashlib
import re
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import (
    AuditEvent,
    FollowUp,
    Intern,
    InternshipProgramme,
    OutboxMessage,
    Placement,
    PlacementFeedback,
    utcnow,
)
from portal.services import internship_followup as followup
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_user

TWO_STEP = {"totp_secret": "JBSWY3DPEHPK3PXP", "totp_enabled_at": datetime(2026, 1, 1)}


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def make_programme(area, *, week1_on: date | None = None, status: str = "rota_approved", **fields):
    week1_on = week1_on or _monday(date.today()) - timedelta(weeks=1)
    programme = InternshipProgramme(
        area_id=area.id, name=fields.pop("name", "Spring cohort"), coaching_on=week1_on - timedelta(days=7),
        week1_on=week1_on, week2_on=week1_on + timedelta(weeks=1), week3_on=week1_on + timedelta(weeks=2),
        week4_on=week1_on + timedelta(weeks=3), status=status, **fields)
    db.session.add(programme)
    db.session.flush()
    return programme


def make_intern(programme, *, is_control=False, reference=None, **fields):
    count = db.session.scalar(select(func.count()).select_from(Intern))
    intern = Intern(programme_id=programme.id, area_id=programme.area_id, is_control=is_control,
                    reference=reference or f"{'C' if is_control else 'I'}{count + 1:07d}",
                    age_band=fields.pop("age_band", "18-19"), neet_months=fields.pop("neet_months", 6), **fields)
    db.session.add(intern)
    db.session.flush()
    return intern


def make_placement(programme, intern, provider, *, week_no=1, status="approved"):
    offer = make_offer(provider, type="internship_week", mentor_name="Morgan Mentor", paid=True)
    placement = Placement(programme_id=programme.id, intern_id=intern.id, offer_id=offer.id, provider_id=provider.id,
                          week_no=week_no, status=status)
    db.session.add(placement)
    db.session.flush()
    return placement


@pytest.fixture
def setting(app):
    """Burnley with a programme (rota approved, week 1 ended last Friday), an intern placed at a provider with two
    contacts, the area's coordinator, and a coordinator of another area."""
    area, other_area = make_area("Burnley"), make_area("Preston")
    provider = make_provider(area, name="Acme Engineering")
    contacts = [make_user(Role.PROVIDER, organisation=provider) for _ in range(2)]
    coordinator = make_user(Role.COORDINATOR, areas=[area], **TWO_STEP)
    other = make_user(Role.COORDINATOR, areas=[other_area], **TWO_STEP)
    programme = make_programme(area)
    intern = make_intern(programme, display_name="Alex Intern")
    placement = make_placement(programme, intern, provider)
    db.session.commit()
    return type("Setting", (), dict(area=area, provider=provider, contacts=contacts, coordinator=coordinator,
                                    other=other, programme=programme, intern=intern, placement=placement))


def _friday(programme, week_no=1) -> datetime:
    return datetime.combine(followup.week_ends_on(programme, week_no), time(17, 0))


def _token(message) -> str:
    return re.search(r"/feedback/([A-Za-z0-9_-]+)", message.body_text).group(1)


# --- sending feedback links ------------------------------------------------------------------------------------

def test_nothing_is_sent_before_the_weeks_friday(setting):
    run = followup.send_feedback_requests(now=_friday(setting.programme) - timedelta(days=1))
    assert (run.created, run.mailed) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(PlacementFeedback)) == 0


def test_after_the_friday_both_links_are_made_once_and_the_mentors_mailed(setting):
    run = followup.send_feedback_requests(now=_friday(setting.programme))
    assert (run.created, run.mailed) == (2, 2)
    rows = db.session.scalars(select(PlacementFeedback).order_by(PlacementFeedback.side)).all()
    assert [row.side for row in rows] == ["intern", "mentor"]
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert sorted(m.recipient for m in messages) == sorted(c.email for c in setting.contacts)
    token = _token(messages[0])
    assert _token(messages[1]) == token
    mentor = next(row for row in rows if row.side == "mentor")
    assert mentor.token_hash == hashlib.sha256(token.encode()).hexdigest()  # only the digest is kept
    assert token not in {row.token_hash for row in rows}
    assert "Morgan Mentor" in messages[0].body_text and setting.intern.reference in messages[0].body_text
    assert "Alex Intern" not in messages[0].body_text  # the intern's name is for coordinators only

    again = followup.send_feedback_requests(now=_friday(setting.programme) + timedelta(days=1))
    assert (again.created, again.mailed) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_proposed_and_cancelled_placements_and_old_weeks_get_no_link(setting):
    intern = make_intern(setting.programme)
    make_placement(setting.programme, intern, make_provider(setting.area), status="cancelled")
    make_placement(setting.programme, intern, make_provider(setting.area), week_no=2, status="proposed")
    db.session.commit()
    late = _friday(setting.programme) + timedelta(days=followup.SEND_WINDOW_DAYS + 1)
    assert followup.send_feedback_requests(now=late).created == 0
    assert followup.send_feedback_requests(now=_friday(setting.programme)).created == 2  # the approved one only


def test_a_draft_programme_sends_nothing(setting):
    setting.programme.status = "rota_proposed"
    db.session.commit()
    assert followup.send_feedback_requests(now=_friday(setting.programme)).created == 0


def test_the_cli_sends_and_rejects_a_bad_moment(setting, runner):
    result = runner.invoke(args=["internships", "feedback", "send", "--now", _friday(setting.programme).isoformat()])
    assert result.exit_code == 0, result.output
    assert "Made 2 feedback links; mailed 2 provider contacts." in result.output
    bad = runner.invoke(args=["internships", "feedback", "send", "--now", "next friday"])
    assert bad.exit_code != 0 and "2026-03-01T09:00" in bad.output


# --- the public form -------------------------------------------------------------------------------------------

@pytest.fixture
def mentor_token(setting):
    followup.send_feedback_requests(now=_friday(setting.programme))
    return _token(db.session.scalars(select(OutboxMessage)).first())


def test_the_form_needs_a_rating_then_takes_one_answer(client, setting, mentor_token):
    page = client.get(f"/feedback/{mentor_token}")
    assert page.status_code == 200 and "How did the week go overall?" in page.text
    assert "Week 1 at Acme Engineering" in page.text and "Alex Intern" not in page.text

    missing = client.post(f"/feedback/{mentor_token}", data={"went_well": "Keen and on time"})
    assert missing.status_code == 400
    assert "Choose a rating from 1 to 5." in missing.text and "Keen and on time" in missing.text  # input kept
    assert db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.side == "mentor")).submitted_at is None

    done = client.post(f"/feedback/{mentor_token}", data={"rating": "4", "went_well": "Keen and on time",
                                                          "to_improve": "More time in the workshop"})
    assert done.status_code == 302
    row = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.side == "mentor"))
    db.session.refresh(row)
    assert (row.rating, row.went_well, row.to_improve) == (4, "Keen and on time", "More time in the workshop")
    assert row.submitted_at is not None

    second = client.get(f"/feedback/{mentor_token}")
    assert second.status_code == 200 and "Feedback given" in second.text
    assert 'action="/feedback' not in second.text
    replay = client.post(f"/feedback/{mentor_token}", data={"rating": "1"})
    assert replay.status_code == 200 and "Feedback given" in replay.text
    db.session.refresh(row)
    assert row.rating == 4


def test_a_rating_out_of_range_is_refused(client, mentor_token):
    response = client.post(f"/feedback/{mentor_token}", data={"rating": "9"})
    assert response.status_code == 400 and "Not a valid choice" in response.text


def test_unknown_and_expired_links_get_a_clear_page(client, setting, mentor_token):
    unknown = client.get("/feedback/not-a-real-token")
    assert unknown.status_code == 404 and "Link not recognised" in unknown.text
    row = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.side == "mentor"))
    row.sent_at = utcnow() - timedelta(days=followup.FEEDBACK_LINK_DAYS + 1)
    db.session.commit()
    expired = client.get(f"/feedback/{mentor_token}")
    assert expired.status_code == 410 and "This link has expired" in expired.text
    posted = client.post(f"/feedback/{mentor_token}", data={"rating": "5"})
    assert posted.status_code == 410
    with pytest.raises(InvalidState):
        followup.submit_feedback(mentor_token, rating=5, went_well=None, to_improve=None)


def test_the_service_refuses_a_second_answer_and_overlong_text(mentor_token):
    with pytest.raises(ValidationFailed):
        followup.submit_feedback(mentor_token, rating=5, went_well="x" * (followup.TEXT_MAX + 1), to_improve=None)
    with pytest.raises(ValidationFailed):
        followup.submit_feedback(mentor_token, rating=0, went_well=None, to_improve=None)
    followup.submit_feedback(mentor_token, rating=5, went_well=None, to_improve=None)
    with pytest.raises(InvalidState):
        followup.submit_feedback(mentor_token, rating=3, went_well=None, to_improve=None)


# --- the coordinator's feedback page and the intern's link -----------------------------------------------------

def test_the_coordinator_makes_the_interns_link_and_sees_both_answers(client, login, setting, mentor_token):
    followup.submit_feedback(mentor_token, rating=5, went_well="A natural", to_improve=None)
    intern_row = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.side == "intern"))
    old_hash = intern_row.token_hash
    login(setting.coordinator)
    page = client.get(f"/internships/programmes/{setting.programme.id}/feedback")
    assert page.status_code == 200
    assert "5 out of 5" in page.text and "A natural" in page.text and "Waiting for an answer" in page.text
    assert "Alex Intern" in page.text  # coordinators see the optional name

    made = client.post(f"/internships/feedback/{intern_row.id}/intern-link")
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = re.search(r"/feedback/([A-Za-z0-9_-]+)</a>", made.text).group(1)
    db.session.refresh(intern_row)
    assert intern_row.token_hash == hashlib.sha256(token.encode()).hexdigest() != old_hash
    client.post("/logout")
    assert client.post(f"/feedback/{token}", data={"rating": "3", "to_improve": "Earlier start"}).status_code == 302
    login(setting.coordinator)
    page = client.get(f"/internships/programmes/{setting.programme.id}/feedback")
    assert "3 out of 5" in page.text and "Earlier start" in page.text
    again = client.post(f"/internships/feedback/{intern_row.id}/intern-link", follow_redirects=True)
    assert "already given their feedback" in again.text


def test_the_mentors_link_is_not_remade_and_other_areas_are_refused(setting, mentor_token):
    mentor_row = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.side == "mentor"))
    with pytest.raises(InvalidState):
        followup.new_intern_link(mentor_row, by=setting.coordinator)
    intern_row = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.side == "intern"))
    with pytest.raises(NotAllowed):
        followup.new_intern_link(intern_row, by=setting.other)


def test_another_areas_coordinator_cannot_see_the_feedback(client, login, setting):
    login(setting.other)
    assert client.get(f"/internships/programmes/{setting.programme.id}/feedback").status_code == 403


# --- coaching and signposting ----------------------------------------------------------------------------------

def test_coaching_is_recorded_once_per_session(client, login, setting):
    login(setting.coordinator)
    url = f"/internships/interns/{setting.intern.id}/coaching"
    response = client.post(url, data={"session": "pre_start"}, follow_redirects=True)
    assert "Pre-start coaching recorded for" in response.text and "Attended" in response.text
    twice = client.post(url, data={"session": "pre_start"}, follow_redirects=True)
    assert "already recorded" in twice.text
    early = client.post(url, data={"session": "final"}, follow_redirects=True)
    assert "comes after the fourth week" in early.text
    bogus = client.post(url, data={"session": "lunch"}, follow_redirects=True)
    assert "Press the button again" in bogus.text
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == followup.COACHING_ACTION)).all()
    assert [(e.object_id, e.detail) for e in events] == [(setting.intern.id, "pre_start")]
    assert followup.coaching_recorded(setting.programme)[setting.intern.id].keys() == {"pre_start"}
    db.session.expire_all()
    assert setting.intern.pre_start_coached_at is not None and setting.intern.final_coached_at is None


def test_the_final_coaching_day_after_the_fourth_week(setting):
    setting.programme.status = "completed"
    db.session.commit()
    followup.record_coaching(setting.intern, "final", by=setting.coordinator)
    assert "final" in followup.coaching_recorded(setting.programme)[setting.intern.id]
    control = make_intern(setting.programme, is_control=True)
    db.session.commit()
    with pytest.raises(InvalidState):
        followup.record_coaching(control, "pre_start", by=setting.coordinator)
    with pytest.raises(NotAllowed):
        followup.record_coaching(setting.intern, "pre_start", by=setting.other)


def test_signposting_is_saved_and_an_overlong_note_kept_with_an_error(client, login, setting):
    login(setting.coordinator)
    url = f"/internships/interns/{setting.intern.id}/signposting"
    assert client.get(url).status_code == 200
    too_long = "x" * (followup.TEXT_MAX + 1)
    bad = client.post(url, data={"note": too_long})
    assert bad.status_code == 400 and f"Keep it to {followup.TEXT_MAX} characters" in bad.text
    assert db.session.get(Intern, setting.intern.id).signposting_note is None
    good = client.post(url, data={"note": "  Level 2 engineering course at Burnley College  "})
    assert good.status_code == 302
    db.session.expire_all()
    assert db.session.get(Intern, setting.intern.id).signposting_note == "Level 2 engineering course at Burnley College"
    page = client.get(f"/internships/programmes/{setting.programme.id}/coaching")
    assert "Level 2 engineering course" in page.text


# --- the control group -----------------------------------------------------------------------------------------

def test_the_coordinator_adds_a_control_member_and_bad_input_is_kept(client, login, setting):
    login(setting.coordinator)
    url = f"/internships/programmes/{setting.programme.id}/control-group"
    bad = client.post(url, data={"display_name": "Sam Control", "age_band": "18-19", "neet_months": "lots"})
    assert bad.status_code == 400 and "Enter a whole number of months" in bad.text and "Sam Control" in bad.text
    assert db.session.scalar(select(func.count()).select_from(Intern).where(Intern.is_control)) == 0
    good = client.post(url, data={"display_name": "Sam Control", "age_band": "18-19", "town": "Nelson",
                                  "neet_months": "9"}, follow_redirects=True)
    member = db.session.scalar(select(Intern).where(Intern.is_control))
    assert member.reference.startswith("C") and len(member.reference) == 9
    assert (member.display_name, member.town, member.neet_months, member.area_id) == \
        ("Sam Control", "Nelson", 9, setting.area.id)
    assert f"{member.reference} added to the control group." in good.text
    assert member.placements == [] and member.follow_ups == []  # follow-ups come when the programme completes


def test_a_control_member_added_after_completion_gets_follow_ups(setting):
    followup.complete_programme(setting.programme, by=setting.coordinator)
    member = followup.add_control_member(setting.programme, followup.ControlMember(age_band="16-17", neet_months=3),
                                         by=setting.coordinator)
    assert [f.months for f in member.follow_ups] == [3, 6, 12]
    with pytest.raises(ValidationFailed):
        followup.add_control_member(setting.programme, followup.ControlMember(age_band="30-40", neet_months=3),
                                    by=setting.coordinator)
    with pytest.raises(NotAllowed):
        followup.add_control_member(setting.programme, followup.ControlMember(age_band="16-17", neet_months=3),
                                    by=setting.other)


# --- completing the programme and the follow-ups ---------------------------------------------------------------

def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert followup.add_months(date(2027, 5, 31), 3) == date(2027, 8, 31)
    assert followup.add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert followup.add_months(date(2027, 3, 5), 12) == date(2028, 3, 5)
    assert followup.add_months(date(2027, 10, 31), 6) == date(2028, 4, 30)


def test_completing_plans_follow_ups_for_interns_and_the_control_group(client, login, setting):
    control = make_intern(setting.programme, is_control=True)
    db.session.commit()
    login(setting.coordinator)
    url = f"/internships/programmes/{setting.programme.id}/complete"
    assert "It cannot be undone" in client.get(url).text
    response = client.post(url, follow_redirects=True)
    assert "6 follow-ups planned" in response.text
    db.session.expire_all()
    assert db.session.get(InternshipProgramme, setting.programme.id).status == "completed"
    ends = followup.programme_ends_on(setting.programme)
    for person in (setting.intern, control):
        assert [(f.months, f.due_on) for f in db.session.get(Intern, person.id).follow_ups] == \
            [(3, followup.add_months(ends, 3)), (6, followup.add_months(ends, 6)), (12, followup.add_months(ends, 12))]
    again = client.post(url, follow_redirects=True)
    assert "already completed" in again.text
    assert db.session.scalar(select(func.count()).select_from(FollowUp)) == 6


def test_a_draft_programme_cannot_be_completed(setting):
    setting.programme.status = "draft"
    db.session.commit()
    with pytest.raises(InvalidState):
        followup.complete_programme(setting.programme, by=setting.coordinator)
    with pytest.raises(NotAllowed):
        followup.complete_programme(setting.programme, by=setting.other)


@pytest.fixture
def completed(setting):
    """The programme completed long enough ago for its 3-month follow-ups to be due, with one control member."""
    setting.control = make_intern(setting.programme, is_control=True)
    db.session.commit()
    followup.complete_programme(setting.programme, by=setting.coordinator)
    for follow_up in db.session.scalars(select(FollowUp).where(FollowUp.months == 3)):
        follow_up.due_on = date.today() - timedelta(days=1)
    db.session.commit()
    return setting


def test_the_coordinator_records_follow_ups_that_are_due(client, login, completed):
    login(completed.coordinator)
    url = f"/internships/programmes/{completed.programme.id}/follow-ups/3"
    page = client.get(url)
    assert page.status_code == 200 and completed.control.reference in page.text
    rows = {r.intern.id: r.follow_up.id for r in followup.follow_up_rows(completed.programme, 3, today=date.today())}
    response = client.post(url, data={f"s_{rows[completed.intern.id]}": "eet",
                                      f"s_{rows[completed.control.id]}": "neet"})
    assert response.status_code == 302
    db.session.expire_all()
    statuses = {f.intern_id: (f.status, f.recorded_by_id) for f in db.session.scalars(
        select(FollowUp).where(FollowUp.months == 3))}
    assert statuses == {completed.intern.id: ("eet", completed.coordinator.id),
                        completed.control.id: ("neet", completed.coordinator.id)}
    bad = client.post(url, data={f"s_{rows[completed.intern.id]}": "retired"})
    assert bad.status_code == 400 and "Not a valid choice" in bad.text
    later = client.get(f"/internships/programmes/{completed.programme.id}/follow-ups/6")
    assert "Not due yet" in later.text
    assert client.get(f"/internships/programmes/{completed.programme.id}/follow-ups/4").status_code == 404


def test_a_follow_up_not_yet_due_cannot_be_answered(completed):
    six = next(r for r in followup.follow_up_rows(completed.programme, 6, today=date.today()))
    with pytest.raises(ValidationFailed, match="not due until"):
        followup.record_follow_ups(completed.programme, 6, {six.follow_up.id: "eet"}, by=completed.coordinator,
                                   today=date.today())
    with pytest.raises(NotAllowed):
        followup.record_follow_ups(completed.programme, 6, {}, by=completed.other, today=date.today())


def test_due_follow_ups_are_reminded_once_to_the_areas_coordinators(completed, runner, mailbox):
    result = runner.invoke(args=["internships", "followups", "remind"])
    assert result.exit_code == 0 and "Sent 1 reminder." in result.output
    messages = mailbox()
    assert [m["To"] for m in messages] == [completed.coordinator.email]
    assert "Spring cohort, 3-month follow-up: 2 to record" in messages[0].get_body(("plain",)).get_content()
    assert all(f.reminded_at is not None for f in db.session.scalars(select(FollowUp).where(FollowUp.months == 3)))
    assert all(f.reminded_at is None for f in db.session.scalars(select(FollowUp).where(FollowUp.months == 6)))
    again = runner.invoke(args=["internships", "followups", "remind"])
    assert "Sent 0 reminders." in again.output


def test_answered_follow_ups_are_not_reminded(completed):
    for follow_up in db.session.scalars(select(FollowUp).where(FollowUp.months == 3)):
        follow_up.status = "not_known"
    db.session.commit()
    assert followup.remind_due_follow_ups() == 0


# --- the evaluation --------------------------------------------------------------------------------------------

def _group(programme, provider, *, interns: int, controls: int, eet: tuple[int, int], not_known=(0, 0)):
    """Interns and control members with their 3-month follow-ups recorded: `eet` of each group EET, `not_known`
    recorded as not known, the rest NEET."""
    due = date.today() - timedelta(days=1)
    for group, (count, eet_count, unknown) in {False: (interns, eet[0], not_known[0]),
                                               True: (controls, eet[1], not_known[1])}.items():
        for i in range(count):
            person = make_intern(programme, is_control=group)
            status = "eet" if i < eet_count else "not_known" if i < eet_count + unknown else "neet"
            db.session.add(FollowUp(intern_id=person.id, months=3, due_on=due, status=status))
    db.session.flush()


def test_the_evaluation_counts_rates_and_the_interval(setting):
    programme = make_programme(setting.area, name="Big cohort", status="completed")
    _group(programme, setting.provider, interns=70, controls=80, eet=(56, 48))
    db.session.commit()
    result = followup.evaluation(programme, today=date.today())
    three = result.points[0]
    assert (three.programme.eet, three.programme.known, three.control.eet, three.control.known) == (56, 70, 48, 80)
    assert three.difference.estimate == pytest.approx(0.2)
    assert three.difference.interval.lower == pytest.approx(0.0524, abs=5e-5)
    assert three.warnings == []
    assert result.points[1].due_on is None  # no 6-month follow-ups in this made-up group


def test_small_groups_and_chance_differences_are_warned(setting):
    programme = make_programme(setting.area, name="Small cohort", status="completed")
    _group(programme, setting.provider, interns=8, controls=12, eet=(5, 5), not_known=(1, 2))
    db.session.commit()
    three = followup.evaluation(programme, today=date.today()).points[0]
    assert (three.programme.known, three.programme.unknown, three.control.known) == (7, 1, 10)
    assert any("fewer than 10" in w and "the programme group" in w and "control" not in w for w in three.warnings)
    assert "The interval includes 0: the difference could be chance." in three.warnings


def test_the_evaluation_page_shows_the_figures(client, login, setting):
    programme = make_programme(setting.area, name="Page cohort", status="completed")
    _group(programme, setting.provider, interns=12, controls=12, eet=(9, 4), not_known=(1, 0))
    intern = db.session.scalars(select(Intern).where(Intern.programme_id == programme.id,
                                                     Intern.is_control.is_(False))).first()
    for week in (1, 2):
        make_placement(programme, intern, make_provider(setting.area), week_no=week, status="completed")
    make_placement(programme, intern, make_provider(setting.area), week_no=3, status="approved")
    db.session.commit()
    login(setting.coordinator)
    page = client.get(f"/internships/programmes/{programme.id}/evaluation")
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "Interns placed</dt><dd class=\"col-sm-8\">1</dd>" in text
    assert "Placement weeks completed</dt><dd class=\"col-sm-8\">2</dd>" in text
    assert "Contacts</dt><dd class=\"col-sm-8\">2" in text
    assert "82% (9 of 11)" in text and "33% (4 of 12)" in text
    assert "+48 percentage points" in text and "(95% interval" in text
    assert "Too few to conclude anything" not in text  # 11 and 12 known
    login(setting.other)
    assert client.get(f"/internships/programmes/{programme.id}/evaluation").status_code == 403


def test_the_pages_link_to_the_programme_page_when_it_exists(client, login, setting):
    login(setting.coordinator)
    page = client.get(f"/internships/programmes/{setting.programme.id}/control-group")
    assert page.status_code == 200
    assert f'href="/internships/{setting.programme.id}"' in page.text
