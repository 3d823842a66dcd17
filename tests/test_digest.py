"""The weekly digest: careers leads switch it on and off; `flask digest send` mails new offers near them."""
import contextlib
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage, utcnow
from portal.services import digest
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_school, make_user

TOMORROW = date.today() + timedelta(days=1)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def queued() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == "weekly_digest")
                                   .order_by(OutboxMessage.recipient)))


@pytest.fixture
def world(app):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High", latitude=53.79, longitude=-2.25)
    lead = make_user(Role.CAREERS_LEAD, organisation=school, email="lead@school.example", weekly_digest=True)
    near = make_provider(burnley, name="Near Works", latitude=53.80, longitude=-2.24)
    far = make_provider(burnley, name="Far Works", latitude=54.20, longitude=-2.25)  # ~28 miles
    preston_provider = make_provider(preston, name="Preston Works", latitude=53.76, longitude=-2.70)
    db.session.commit()
    return locals()


# --- on and off -------------------------------------------------------------------------------------------------

def test_the_digest_is_off_by_default_and_the_browse_page_says_so(client, login, world):
    lead = make_user(Role.CAREERS_LEAD, organisation=world["school"])
    db.session.commit()
    assert lead.weekly_digest is False
    login(lead)
    body = client.get("/browse/offers").get_data(as_text=True)
    assert "The weekly digest is <strong>off</strong> (it is off unless you switch it on)" in body
    assert "Switch the weekly digest on" in body


def test_a_careers_lead_switches_the_digest_on_and_off_and_each_is_audited(client, login, world):
    lead = make_user(Role.CAREERS_LEAD, organisation=world["school"])
    db.session.commit()
    login(lead)
    response = client.post("/browse/digest", data={"weekly_digest": "on"}, follow_redirects=True)
    assert "The weekly digest is on" in response.get_data(as_text=True)
    assert "Switch the weekly digest off" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.weekly_digest is True
    client.post("/browse/digest", data={"weekly_digest": "off"})
    db.session.refresh(lead)
    assert lead.weekly_digest is False
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id == lead.id)
                                .order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["digest.on", "digest.off"]
    assert events[0].area_id == world["burnley"].id


def test_a_nonsense_switch_changes_nothing(client, login, world):
    lead = make_user(Role.CAREERS_LEAD, organisation=world["school"])
    db.session.commit()
    login(lead)
    response = client.post("/browse/digest", data={"weekly_digest": "maybe"}, follow_redirects=True)
    assert "could not be changed" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.weekly_digest is False
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action.like("digest.%"))) is None


def test_only_careers_leads_have_a_digest(client, login, world):
    login(make_user(Role.PROVIDER, organisation=world["near"]))
    assert client.post("/browse/digest", data={"weekly_digest": "on"}).status_code == 403


# --- sending ----------------------------------------------------------------------------------------------------

def published(offer, days_ago: float):
    offer.published_at = utcnow() - timedelta(days=days_ago)
    return offer


def test_the_digest_lists_new_visible_offers_near_the_school_newest_first(runner, world, mailbox):
    published(make_offer(world["near"], title="Older this week"), 5)
    published(make_offer(world["near"], title="Newest"), 0)
    published(make_offer(world["far"], title="Far online", type="virtual_encounter", delivery="virtual",
                         virtual_link_note="Email"), 1)
    published(make_offer(world["preston_provider"], title="Preston for all", type="virtual_encounter",
                         delivery="virtual", virtual_link_note="Email", open_to_all_areas=True), 2)
    # Not in it: too old, too far in person, another area's, a draft, full, over.
    published(make_offer(world["near"], title="Last month"), 10)
    published(make_offer(world["far"], title="Far visit"), 1)
    published(make_offer(world["preston_provider"], title="Preston only"), 1)
    make_offer(world["near"], title="A draft", status="draft")
    published(make_offer(world["near"], title="Full", capacity=5, allocated=5, sessions=1, per_session=5), 1)
    db.session.commit()

    result = runner.invoke(args=["digest", "send", "--today", TOMORROW.isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Sent 1 digest."
    [message] = mailbox()
    assert message["To"] == "lead@school.example"
    assert message["Subject"] == "4 new offers near Burnley High"
    text = text_of(message)
    listed = [line[2:].split(" – ")[0] for line in text.splitlines() if line.startswith("* ")]
    assert listed == ["Newest", "Far online", "Preston for all", "Older this week"]
    assert "0.8 miles" in text and "Virtual" in text and "http://localhost/offers/" in text
    assert "http://localhost/browse/offers" in text


def test_nobody_gets_an_empty_digest_and_nobody_who_did_not_ask(runner, world):
    school = world["school"]
    make_user(Role.CAREERS_LEAD, organisation=school, email="quiet@school.example")  # digest off
    make_user(Role.CAREERS_LEAD, organisation=school, email="gone@school.example", weekly_digest=True,
              status="disabled")
    lonely_school = make_school(world["preston"], name="Far School", latitude=54.6, longitude=-3.5)
    make_user(Role.CAREERS_LEAD, organisation=lonely_school, email="lonely@far.example", weekly_digest=True)
    published(make_offer(world["near"], title="Fresh"), 1)
    db.session.commit()
    result = runner.invoke(args=["digest", "send", "--today", TOMORROW.isoformat()])
    assert result.output.strip() == "Sent 1 digest."
    assert [m.recipient for m in queued()] == ["lead@school.example"]


def test_a_school_without_a_location_gets_only_virtual_offers(world):
    school = make_school(world["burnley"], name="Unplaced", latitude=None, longitude=None)
    make_user(Role.CAREERS_LEAD, organisation=school, email="unplaced@school.example", weekly_digest=True)
    published(make_offer(world["near"], title="In person"), 1)
    published(make_offer(world["near"], title="On screen", type="virtual_encounter", delivery="virtual",
                         virtual_link_note="Email"), 1)
    db.session.commit()
    assert digest.send_weekly_digests(today=TOMORROW) == 2
    unplaced = next(m for m in queued() if m.recipient == "unplaced@school.example")
    assert "On screen" in unplaced.body_text and "In person" not in unplaced.body_text


def test_the_week_is_the_seven_days_before_today(world):
    published(make_offer(world["near"], title="Fresh"), 0)
    db.session.commit()
    assert digest.send_weekly_digests(today=date.today()) == 0  # published today: next week's digest
    assert digest.send_weekly_digests(today=TOMORROW) == 1
    assert digest.send_weekly_digests(today=date.today() + timedelta(days=8)) == 0  # a week later: old news


def test_a_second_run_within_the_week_sends_nothing_and_the_next_covers_every_day_since(world):
    today = date.today()
    published(make_offer(world["near"], title="Monday's"), 0)  # published today, after this morning's run
    db.session.commit()
    assert digest.send_weekly_digests(today=TOMORROW) == 1
    assert digest.send_weekly_digests(today=TOMORROW) == 0  # the scheduler ran it twice: one digest
    for days in range(2, 8):  # run daily: nothing until a week has passed
        published(make_offer(world["near"], title=f"Day {days}"), -days + 1)
        db.session.commit()
        assert digest.send_weekly_digests(today=today + timedelta(days=days)) == 0
    lead = db.session.get(type(world["lead"]), world["lead"].id)
    assert lead.last_digest_on == TOMORROW
    # A day late (eight days after): the offers of all eight days since the last digest, none of the week before.
    assert digest.send_weekly_digests(today=TOMORROW + timedelta(days=8)) == 1
    first, second = queued()[0], queued()[1]
    assert "Monday's" in first.body_text and "Monday's" not in second.body_text
    assert second.subject == "6 new offers near Burnley High"
    assert all(f"Day {days}" in second.body_text for days in range(2, 8))


def test_two_runs_at_once_send_one_digest(app, world, monkeypatch):
    """Two schedulers at once, both past reading the leads before either claims one (on PostgreSQL; on SQLite the
    second waits for the first's write lock): the conditional UPDATE lets one send."""
    published(make_offer(world["near"], title="Fresh"), 1)
    db.session.commit()
    both_read = threading.Barrier(2)
    real_offers_for = digest.offers_for

    def offers_for(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: the other still waits for the lock
            both_read.wait(timeout=1)
        return real_offers_for(*args, **kwargs)

    monkeypatch.setattr(digest, "offers_for", offers_for)
    sent, errors = [], []

    def run():
        with app.app_context():
            try:
                sent.append(digest.send_weekly_digests(today=TOMORROW))
            except Exception as error:  # reported below
                errors.append(error)
            finally:
                db.session.remove()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=30)
    assert errors == [] and sorted(sent) == [0, 1]
    assert [m.recipient for m in queued()] == ["lead@school.example"]


def test_offers_that_ended_by_the_day_of_the_digest_are_left_out(world):
    today = date.today()
    published(make_offer(world["near"], title="Short", starts_on=today, ends_on=today + timedelta(days=2)), 0)
    db.session.commit()
    assert digest.send_weekly_digests(today=today + timedelta(days=3)) == 0


def test_a_digest_lists_at_most_twenty(world):
    for n in range(25):
        published(make_offer(world["near"], title=f"Talk {n}"), 1 + n / 100)
    db.session.commit()
    assert digest.send_weekly_digests(today=TOMORROW) == 1
    [message] = queued()
    assert message.subject == "20 new offers near Burnley High"
    assert message.body_text.count("\n* ") == 20 and "* Talk 0 " in message.body_text


def test_without_a_digest_the_command_says_none_were_sent(runner, world):
    result = runner.invoke(args=["digest", "send"])
    assert result.exit_code == 0 and result.output.strip() == "Sent 0 digests."


def test_a_bad_date_is_refused(runner, world):
    result = runner.invoke(args=["digest", "send", "--today", "next monday"])
    assert result.exit_code != 0 and "Invalid value for '--today'" in result.output
