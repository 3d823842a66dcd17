"""Levy transfer pledges: the 50% rule, each criterion each way, auto-approval (at once, after the delay, the
pledger stepping in first, not enough left), expiry after three months with a moved clock, withdrawing returns a
reservation, the whole status flow through the pages, and who may do what."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, LevyEntry, LevySpend, OutboxMessage, Pledge, PledgeApplication, utcnow
from portal.services import pledges
from portal.services.pledges import ApplicationDetails, PledgeDetails
from portal.vocab import Role
from tests.factories import (
    make_area,
    make_pledge,
    make_pledge_application,
    make_provider,
    make_user,
)

BURNLEY = (53.789, -2.248)
PADIHAM = (53.797, -2.311)  # about 3 miles from Burnley
LEEDS = (53.797, -1.548)  # about 29 miles from Burnley


def months_back(n: int) -> date:
    first = date.today().replace(day=1)
    index = first.year * 12 + first.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def fund(provider, pence_per_month: int, months: int = 12) -> None:
    """Levy entries for each of the `months` full months before this month (what last_year_funds counts)."""
    for n in range(1, months + 1):
        db.session.add(LevyEntry(provider_id=provider.id, month=months_back(n), amount_pence=pence_per_month))
    db.session.flush()


@pytest.fixture
def world(app):
    """A levy payer in Burnley with £12,000 of last year's funds; two smaller employers (Padiham, Leeds)."""
    area = make_area("Burnley")
    pledger = make_provider(area, name="Pennine Aerostructures", levy_payer=True, size_band="large",
                            latitude=BURNLEY[0], longitude=BURNLEY[1], sectors=("engineering",))
    fund(pledger, 100_000)
    near = make_provider(area, name="Padiham Precision Ltd", size_band="small", latitude=PADIHAM[0],
                         longitude=PADIHAM[1], sectors=("engineering",))
    far = make_provider(area, name="Leeds Digital Ltd", size_band="small", latitude=LEEDS[0], longitude=LEEDS[1],
                        sectors=("digital",))
    other_area = make_area("Preston")
    world = {
        "area": area, "pledger": pledger, "near": near, "far": far,
        "pledger_user": make_user(Role.PROVIDER, organisation=pledger, name="Neil Crabtree"),
        "near_user": make_user(Role.PROVIDER, organisation=near, name="Asha Patel"),
        "far_user": make_user(Role.PROVIDER, organisation=far, name="Tom Reed"),
        "coordinator": make_user(Role.COORDINATOR, areas=[area]),
        "other_coordinator": make_user(Role.COORDINATOR, areas=[other_area]),
    }
    db.session.commit()
    return world


def pledge_of(world, amount=500_000, **fields) -> Pledge:
    details = PledgeDetails(title=fields.pop("title", "Engineering apprenticeships"), amount_pence=amount, **fields)
    return pledges.create_pledge(details, by=world["pledger_user"])


def details(amount=100_000, level=3, **fields) -> ApplicationDetails:
    return ApplicationDetails(standard=fields.pop("standard", "Engineering technician"), level=level,
                              apprentices=fields.pop("apprentices", 1), amount_pence=amount,
                              starts_on=fields.pop("starts_on", date.today() + timedelta(days=30)), **fields)


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --- the 50% rule -------------------------------------------------------------------------------------------------

def test_a_pledge_may_be_up_to_half_of_last_years_funds(world):
    with pytest.raises(ValidationFailed) as refused:
        pledge_of(world, amount=600_001)
    assert refused.value.field == "amount"
    assert "at most £6,000: half of the £12,000" in refused.value.message
    assert count(Pledge) == 0

    pledge = pledge_of(world, amount=600_000)
    assert (pledge.amount_pence, pledge.remaining_pence, pledge.last_year_funds_pence) == (600_000, 600_000,
                                                                                          1_200_000)
    assert pledge.status == "open" and pledge.area_id == world["area"].id
    assert count(AuditEvent, AuditEvent.action == "pledge.create") == 1


def test_this_months_and_older_entries_do_not_count(world):
    pledger = world["pledger"]
    db.session.add_all([LevyEntry(provider_id=pledger.id, month=date.today().replace(day=1), amount_pence=900_000),
                        LevyEntry(provider_id=pledger.id, month=months_back(13), amount_pence=900_000)])
    db.session.commit()
    with pytest.raises(ValidationFailed, match="at most £6,000"):
        pledge_of(world, amount=600_100)


def test_a_levy_payer_without_last_years_funds_is_told_to_record_them(app):
    provider = make_provider(levy_payer=True)
    user = make_user(Role.PROVIDER, organisation=provider)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="record your monthly levy entries first"):
        pledges.create_pledge(PledgeDetails(title="Anything", amount_pence=100), by=user)


def test_only_levy_payers_pledge_and_only_smaller_employers_apply(world):
    with pytest.raises(NotAllowed):
        pledges.create_pledge(PledgeDetails(title="Not mine", amount_pence=100), by=world["near_user"])
    pledge = pledge_of(world)
    with pytest.raises(NotAllowed):
        pledges.apply(pledge, details(), by=world["pledger_user"])
    other_payer = make_user(Role.PROVIDER, organisation=make_provider(world["area"], levy_payer=True))
    db.session.commit()
    with pytest.raises(NotAllowed):
        pledges.apply(pledge, details(), by=other_payer)


# --- criteria -------------------------------------------------------------------------------------------------------

def test_distance_criterion_each_way(world):
    pledge = pledge_of(world, max_distance_miles=10)
    assert pledges.unmet_reasons(pledge, world["near"], 3) == []
    far = pledges.unmet_reasons(pledge, world["far"], 3)
    assert len(far) == 1 and "Leeds Digital Ltd is 29 miles from Pennine Aerostructures" in far[0]
    world["near"].latitude = world["near"].longitude = None
    assert "we do not know where Padiham Precision Ltd is" in pledges.unmet_reasons(pledge, world["near"], 3)[0]


def test_sector_criterion_each_way(world):
    pledge = pledge_of(world, sectors=["engineering", "construction"])
    assert pledges.unmet_reasons(pledge, world["near"], 3) == []
    reasons = pledges.unmet_reasons(pledge, world["far"], 3)
    assert reasons == ["the pledge is for Construction or Engineering and manufacturing, and Leeds Digital Ltd's "
                       "sectors are Digital"]


def test_level_criterion_each_way(world):
    pledge = pledge_of(world, levels=[2, 3])
    assert pledges.unmet_reasons(pledge, world["near"], 3) == []
    assert pledges.unmet_reasons(pledge, world["near"], 5) == ["the pledge is for level 2 or 3, not level 5"]


def test_no_criteria_means_anyone_meets_them(world):
    pledge = pledge_of(world)
    assert pledges.unmet_reasons(pledge, world["far"], 7) == []


def test_applying_records_whether_every_criterion_is_met(world):
    pledge = pledge_of(world, max_distance_miles=10, levels=[3], auto_approve=False)
    meets = pledges.apply(pledge, details(level=3), by=world["near_user"])
    misses = pledges.apply(pledge, details(level=4), by=world["far_user"])
    assert (meets.meets_criteria, meets.unmet_reasons) == (True, None)
    assert misses.meets_criteria is False
    assert "29 miles" in misses.unmet_reasons and "not level 4" in misses.unmet_reasons
    assert meets.auto_approve_at is None and misses.auto_approve_at is None  # the pledge does not auto-approve
    assert meets.expires_at == pledges.add_months(meets.created_at, 3)


def test_an_application_for_more_than_is_left_is_refused(world):
    pledge = pledge_of(world, amount=200_000)
    with pytest.raises(ValidationFailed) as refused:
        pledges.apply(pledge, details(amount=200_001), by=world["near_user"])
    assert refused.value.field == "amount" and "£2,000 left" in refused.value.message
    assert count(PledgeApplication) == 0


# --- auto-approval ----------------------------------------------------------------------------------------------------

def test_meeting_every_criterion_with_no_delay_approves_at_once(world):
    pledge = pledge_of(world, auto_approve=True, auto_approve_delay_days=0, sectors=["engineering"])
    application = pledges.apply(pledge, details(amount=150_000), by=world["near_user"])
    db.session.expire_all()
    assert application.status == "awaiting_acceptance"
    assert application.auto_approve_at is None and application.decided_by_id is None
    assert db.session.get(Pledge, pledge.id).remaining_pence == 350_000
    assert count(AuditEvent, AuditEvent.action == "pledge_application.auto_approve") == 1


def test_not_meeting_a_criterion_waits_for_the_pledger_even_with_no_delay(world):
    pledge = pledge_of(world, auto_approve=True, auto_approve_delay_days=0, sectors=["engineering"])
    application = pledges.apply(pledge, details(), by=world["far_user"])
    assert application.status == "awaiting_approval" and application.auto_approve_at is None
    assert pledges.run_due(now=utcnow() + timedelta(days=60)).approved == []


def test_the_default_delay_is_six_weeks_and_the_run_approves_only_when_due(world):
    pledge = pledge_of(world)
    assert (pledge.auto_approve, pledge.auto_approve_delay_days) == (True, 42)
    application = pledges.apply(pledge, details(), by=world["near_user"])
    assert application.auto_approve_at == application.created_at + timedelta(days=42)
    assert pledges.run_due(now=application.created_at + timedelta(days=41, hours=23)).approved == []
    assert db.session.get(PledgeApplication, application.id).status == "awaiting_approval"
    summary = pledges.run_due(now=application.created_at + timedelta(days=42))
    assert summary.approved == [application.id]
    assert pledges.run_due(now=application.created_at + timedelta(days=43)).approved == []  # nothing twice
    db.session.expire_all()
    assert application.status == "awaiting_acceptance"
    assert db.session.get(Pledge, pledge.id).remaining_pence == 400_000


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_the_pledger_steps_in_before_the_auto_approval(world, decision):
    pledge = pledge_of(world, auto_approve_delay_days=10)
    application = pledges.apply(pledge, details(), by=world["near_user"])
    if decision == "approve":
        pledges.approve(application, by=world["pledger_user"])
    else:
        pledges.reject(application, by=world["pledger_user"], reason="We have funded this standard already.")
    summary = pledges.run_due(now=application.created_at + timedelta(days=11))
    assert summary.approved == []
    db.session.expire_all()
    assert application.auto_approve_at is None
    assert application.status == ("awaiting_acceptance" if decision == "approve" else "rejected")
    assert application.decided_by_id == world["pledger_user"].id
    assert db.session.get(Pledge, pledge.id).remaining_pence == (400_000 if decision == "approve" else 500_000)
    assert count(AuditEvent, AuditEvent.action == "pledge_application.auto_approve") == 0


def test_an_auto_approval_that_no_longer_fits_waits_for_the_pledger(world, mailbox):
    pledge = pledge_of(world, amount=300_000, auto_approve_delay_days=5)
    first = pledges.apply(pledge, details(amount=200_000), by=world["near_user"])
    second_user = make_user(Role.PROVIDER, organisation=make_provider(world["area"], name="Hapton Tools Ltd",
                                                                     latitude=PADIHAM[0], longitude=PADIHAM[1]))
    db.session.commit()
    second = pledges.apply(pledge, details(amount=200_000), by=second_user)
    summary = pledges.run_due(now=second.created_at + timedelta(days=6))
    assert summary.approved == [first.id]
    assert summary.stopped == [(second.id, "this pledge no longer has enough left: £1,000 left, and this "
                                           "application is for £2,000")]
    db.session.expire_all()
    assert (second.status, second.auto_approve_at) == ("awaiting_approval", None)
    assert db.session.get(Pledge, pledge.id).remaining_pence == 100_000
    told = [m for m in mailbox() if m["To"] == world["pledger_user"].email and "Needs the pledger" in m["Subject"]]
    assert len(told) == 1


def test_the_cli_runs_due_auto_approvals(world, runner):
    pledge = pledge_of(world, auto_approve_delay_days=3)
    application = pledges.apply(pledge, details(), by=world["near_user"])
    later = (application.created_at + timedelta(days=3, minutes=1)).isoformat(timespec="minutes")
    result = runner.invoke(args=["pledges", "auto-approve", "--now", later])
    assert result.exit_code == 0, result.output
    assert "1 auto-approved." in result.output
    db.session.expire_all()
    assert application.status == "awaiting_acceptance"


# --- expiry ---------------------------------------------------------------------------------------------------------

def test_undecided_applications_expire_three_months_after_applying(world, runner, mailbox):
    pledge = pledge_of(world, auto_approve=False)
    waiting = pledges.apply(pledge, details(), by=world["near_user"])
    decided = pledges.apply(pledge, details(), by=world["far_user"])
    pledges.approve(decided, by=world["pledger_user"])
    applied = waiting.created_at
    assert pledges.expire(now=pledges.add_months(applied, 3) - timedelta(minutes=1)) == 0
    result = runner.invoke(args=["pledges", "expire", "--now",
                                 (pledges.add_months(applied, 3) + timedelta(minutes=1)).isoformat()])
    assert result.exit_code == 0, result.output
    assert "Expired 1 application." in result.output
    db.session.expire_all()
    assert (waiting.status, decided.status) == ("expired", "awaiting_acceptance")
    assert db.session.get(Pledge, pledge.id).remaining_pence == 400_000  # the approved one keeps its reservation
    assert pledges.expire(now=pledges.add_months(applied, 4)) == 0
    subjects = [m["Subject"] for m in mailbox() if m["To"] == world["near_user"].email]
    assert any(subject.startswith("Expired:") for subject in subjects)


# --- withdraw, reject, the CHECK ----------------------------------------------------------------------------------

def test_withdrawing_an_approved_application_returns_its_reservation(world):
    pledge = pledge_of(world, auto_approve=False)
    application = pledges.apply(pledge, details(amount=120_000), by=world["near_user"])
    pledges.approve(application, by=world["pledger_user"])
    assert db.session.get(Pledge, pledge.id).remaining_pence == 380_000
    pledges.withdraw(application, by=world["near_user"], reason="Our apprentice found another course.")
    db.session.expire_all()
    assert application.status == "withdrawn" and application.reason == "Our apprentice found another course."
    assert db.session.get(Pledge, pledge.id).remaining_pence == 500_000
    with pytest.raises(InvalidState):
        pledges.withdraw(application, by=world["near_user"])


def test_withdrawing_before_a_decision_returns_nothing(world):
    pledge = pledge_of(world, auto_approve=False)
    application = pledges.apply(pledge, details(), by=world["near_user"])
    pledges.withdraw(application, by=world["near_user"])
    db.session.expire_all()
    assert application.status == "withdrawn"
    assert db.session.get(Pledge, pledge.id).remaining_pence == 500_000


def test_an_accepted_application_cannot_be_withdrawn_or_rejected(world):
    pledge = pledge_of(world, auto_approve=False)
    application = pledges.apply(pledge, details(), by=world["near_user"])
    pledges.approve(application, by=world["pledger_user"])
    pledges.accept(application, by=world["near_user"])
    with pytest.raises(InvalidState, match="can no longer be withdrawn"):
        pledges.withdraw(application, by=world["near_user"])
    with pytest.raises(InvalidState, match="nothing to reject"):
        pledges.reject(application, by=world["pledger_user"], reason="Changed our mind")
    assert db.session.get(Pledge, pledge.id).remaining_pence == 400_000


def test_approving_more_than_is_left_is_refused_and_changes_nothing(world):
    pledge = pledge_of(world, amount=150_000, auto_approve=False)
    first = pledges.apply(pledge, details(amount=100_000), by=world["near_user"])
    second = pledges.apply(pledge, details(amount=100_000), by=world["far_user"])
    pledges.approve(first, by=world["pledger_user"])
    with pytest.raises(pledges.NotEnoughLeft, match="no longer has enough left: £500 left"):
        pledges.approve(second, by=world["pledger_user"])
    db.session.expire_all()
    assert second.status == "awaiting_approval" and second.decided_at is None
    assert db.session.get(Pledge, pledge.id).remaining_pence == 50_000


def test_the_check_holds_even_if_the_guard_were_wrong(world, monkeypatch):
    """Take the remaining-amount condition out of the UPDATE: the CHECK refuses, reported the same way."""
    pledge = pledge_of(world, amount=100_000, auto_approve=False)
    application = make_pledge_application(pledge, world["near"], amount_pence=150_000)
    db.session.commit()
    monkeypatch.setattr(pledges, "_has_room", lambda amount: True)
    with pytest.raises(pledges.NotEnoughLeft, match="£1,000 left, and this application is for £1,500"):
        pledges.approve(application, by=world["pledger_user"])
    db.session.expire_all()
    assert application.status == "awaiting_approval"
    assert db.session.get(Pledge, pledge.id).remaining_pence == 100_000


def test_closing_rejects_waiting_applications_and_stops_approvals(world):
    pledge = pledge_of(world, auto_approve=False)
    approved = pledges.apply(pledge, details(), by=world["near_user"])
    pledges.approve(approved, by=world["pledger_user"])
    waiting = pledges.apply(pledge, details(), by=world["far_user"])
    assert pledges.close_pledge(pledge, by=world["pledger_user"]) == 1
    db.session.expire_all()
    assert (pledge.status, approved.status, waiting.status) == ("closed", "awaiting_acceptance", "rejected")
    with pytest.raises(InvalidState, match="closed"):
        pledges.apply(pledge, details(), by=world["far_user"])
    with pytest.raises(InvalidState, match="already closed"):
        pledges.close_pledge(pledge, by=world["pledger_user"])


# --- the pages ------------------------------------------------------------------------------------------------------

def test_the_status_flow_through_the_pages(world, client, login, mailbox):
    login(world["pledger_user"])
    response = client.post("/pledges/new", data={"title": "Engineering apprenticeships", "amount": "7,000",
                                                 "auto_approve_delay_days": "42", "levels": ["3", "4"]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "You can pledge at most £6,000: half of the £12,000" in html
    assert 'value="Engineering apprenticeships"' in html  # the rest is kept
    response = client.post("/pledges/new", data={"title": "Engineering apprenticeships", "amount": "£5,000",
                                                 "auto_approve_delay_days": "42", "levels": ["3", "4"]})
    pledge = db.session.scalar(select(Pledge))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pledges/{pledge.id}")
    assert pledge.levels == [3, 4] and pledge.auto_approve is False  # the box was left unticked

    login(world["near_user"])
    page = client.get("/pledges?level=3").get_data(as_text=True)
    assert "Engineering apprenticeships" in page and "£5,000" in page
    assert "Engineering apprenticeships" not in client.get("/pledges?level=6").get_data(as_text=True)
    form = {"standard": "Engineering technician", "level": "3", "apprentices": "2", "amount": "6000",
            "town": "Padiham", "starts_on": (date.today() + timedelta(days=40)).isoformat(), "message": "Hello"}
    response = client.post(f"/pledges/{pledge.id}/apply", data=form)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "This pledge has £5,000 left" in html and 'value="Padiham"' in html
    response = client.post(f"/pledges/{pledge.id}/apply", data={**form, "amount": "2000"})
    assert response.status_code == 302
    application = db.session.scalar(select(PledgeApplication))
    assert (application.status, application.apprentices, application.amount_pence) == ("awaiting_approval", 2,
                                                                                         200_000)

    login(world["pledger_user"])
    page = client.get(f"/pledges/{pledge.id}").get_data(as_text=True)
    assert "Approve Padiham Precision Ltd’s application" in page
    assert client.post(f"/pledges/applications/{application.id}/approve").status_code == 302
    db.session.expire_all()
    assert application.status == "awaiting_acceptance" and pledge.remaining_pence == 300_000

    login(world["near_user"])
    assert client.post(f"/pledges/applications/{application.id}/accept").status_code == 302
    db.session.expire_all()
    assert application.status == "accepted"

    login(world["pledger_user"])
    assert client.get(f"/pledges/applications/{application.id}/use").status_code == 200  # the confirmation
    assert client.post(f"/pledges/applications/{application.id}/use").status_code == 302
    db.session.expire_all()
    assert application.status == "funds_used"
    spend = db.session.scalar(select(LevySpend))
    assert (spend.provider_id, spend.amount_pence, spend.note, spend.application_id) == (
        world["pledger"].id, 200_000, "transfer to Padiham Precision Ltd", application.id)
    assert spend.month == date.today().replace(day=1)

    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-5:] == ["pledge.create", "pledge_application.create", "pledge_application.approve",
                            "pledge_application.accept", "pledge_application.funds_used"]
    sent = mailbox()
    for user in (world["pledger_user"], world["near_user"]):
        subjects = [m["Subject"] for m in sent if m["To"] == user.email]
        assert [" ".join(s.split()).split(":")[0] for s in subjects] == [
            "New application" if user == world["pledger_user"] else "Application sent", "Approved", "Accepted",
            "Transfer used"]


def test_rejecting_needs_a_reason_beside_the_field(world, client, login):
    pledge = make_pledge(world["pledger"])
    application = make_pledge_application(pledge, world["near"])
    db.session.commit()
    login(world["pledger_user"])
    response = client.post(f"/pledges/applications/{application.id}/reject", data={"reason": ""})
    assert response.status_code == 200
    assert "Give a reason: it is emailed to the applicant." in response.get_data(as_text=True)
    response = client.post(f"/pledges/applications/{application.id}/reject", data={"reason": "Out of our area."})
    assert response.status_code == 302
    db.session.expire_all()
    assert (application.status, application.reason) == ("rejected", "Out of our area.")
    assert count(OutboxMessage) == 2


def test_who_may_do_what(world, client, login):
    pledge = make_pledge(world["pledger"], max_distance_miles=10)
    application = make_pledge_application(pledge, world["near"])
    other = make_pledge_application(pledge, world["far"], standard="Software developer")
    db.session.commit()

    login(world["near_user"])  # a smaller employer
    assert client.get("/pledges/new").status_code == 403
    page = client.get(f"/pledges/{pledge.id}").get_data(as_text=True)
    assert "Engineering technician" in page and "Software developer" not in page  # its own application only
    assert "you meet this" in page
    assert client.post(f"/pledges/applications/{application.id}/approve").status_code == 403
    assert client.post(f"/pledges/applications/{other.id}/accept").status_code == 403
    assert client.get(f"/pledges/applications/{other.id}/withdraw").status_code == 403
    assert client.get(f"/pledges/{pledge.id}/close").status_code == 403

    login(world["pledger_user"])  # the levy payer
    assert client.get(f"/pledges/{pledge.id}/apply").status_code == 403
    assert client.post(f"/pledges/applications/{application.id}/accept").status_code == 403
    page = client.get(f"/pledges/{pledge.id}").get_data(as_text=True)
    assert "Engineering technician" in page and "Software developer" in page

    login(world["coordinator"])  # read-only, for the pledger's area
    page = client.get("/pledges/area").get_data(as_text=True)
    assert pledge.title in page
    page = client.get(f"/pledges/{pledge.id}").get_data(as_text=True)
    assert "Software developer" in page and "Approve Padiham" not in page and "Reject" not in page
    login(world["other_coordinator"])
    assert client.get(f"/pledges/{pledge.id}").status_code == 403
    assert pledge.title not in client.get("/pledges/area").get_data(as_text=True)

    another_payer = make_user(Role.PROVIDER, organisation=make_provider(world["area"], levy_payer=True))
    db.session.commit()
    login(another_payer)  # another levy payer sees its own pledges, not this one
    assert client.get(f"/pledges/{pledge.id}").status_code == 403
    assert client.post(f"/pledges/applications/{application.id}/approve").status_code == 403


def test_a_closed_pledge_is_shown_only_to_those_who_applied(world, client, login):
    pledge = make_pledge(world["pledger"], status="closed")
    make_pledge_application(pledge, world["near"], status="rejected")
    db.session.commit()
    login(world["near_user"])
    assert client.get(f"/pledges/{pledge.id}").status_code == 200
    login(world["far_user"])
    assert client.get(f"/pledges/{pledge.id}").status_code == 403
    assert pledge.title not in client.get("/pledges").get_data(as_text=True)


def test_withdrawing_through_the_page_confirms_first_and_returns_the_reservation(world, client, login):
    pledge = make_pledge(world["pledger"], amount_pence=300_000, remaining_pence=200_000)
    application = make_pledge_application(pledge, world["near"], status="awaiting_acceptance")
    db.session.commit()
    login(world["near_user"])
    page = client.get(f"/pledges/applications/{application.id}/withdraw").get_data(as_text=True)
    assert "The £1,000 reserved for you goes back to the pledge." in page
    db.session.expire_all()
    assert application.status == "awaiting_acceptance"  # the page alone changes nothing
    response = client.post(f"/pledges/applications/{application.id}/withdraw", data={"reason": ""})
    assert response.status_code == 302
    db.session.expire_all()
    assert application.status == "withdrawn" and pledge.remaining_pence == 300_000
    page = client.get(f"/pledges/applications/{application.id}/withdraw").get_data(as_text=True)
    assert "it can no longer be withdrawn" in page


def test_bad_input_is_answered_beside_the_field_never_with_an_error_page(world, client, login):
    login(world["near_user"])
    for query in ("?sector=nonsense", "?level=abc", "?level=9", "?sector=digital&level=3"):
        assert client.get(f"/pledges{query}").status_code == 200
    pledge = make_pledge(world["pledger"])
    db.session.commit()
    response = client.post(f"/pledges/{pledge.id}/apply", data={
        "standard": "", "level": "12", "apprentices": "0", "amount": "lots", "starts_on": "31/02/2026"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for message in ("Enter the apprenticeship standard", "Not a valid choice", "Enter a number from 1 to 100",
                    "Enter an amount in pounds", "Enter a real date"):
        assert message in html, message
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    response = client.post(f"/pledges/{pledge.id}/apply", data={
        "standard": "Welder", "level": "2", "apprentices": "1", "amount": "100", "starts_on": yesterday})
    assert "The start date must be today or later." in response.get_data(as_text=True)
    assert count(PledgeApplication) == 0

    login(world["pledger_user"])
    response = client.post("/pledges/new", data={"title": "", "amount": "-5", "auto_approve_delay_days": "91",
                                                 "max_distance_miles": "0"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for message in ("Enter a title", "Enter 0 to 90 days.", "Enter a distance of 1 to 500 miles"):
        assert message in html, message
    assert count(Pledge) == 1  # the one made above


def test_a_transfer_is_never_recorded_as_used_beyond_the_pledgers_levy_funds(world):
    """The levy account's rule holds for transfers too: the spend must fit the funds not yet expired."""
    pledge = make_pledge(world["pledger"], amount_pence=500_000)
    application = make_pledge_application(pledge, world["near"], amount_pence=200_000, status="accepted")
    # the pledger has already spent all but £1,000 of its £12,000 this month
    db.session.add(LevySpend(provider_id=world["pledger"].id, month=date.today().replace(day=1),
                             amount_pence=1_100_000, note="training"))
    db.session.commit()

    with pytest.raises(ValidationFailed) as refused:
        pledges.record_funds_used(application, by=world["pledger_user"])

    assert "at most £1,000" in refused.value.message
    db.session.expire_all()
    assert application.status == "accepted"
    assert count(LevySpend) == 1
