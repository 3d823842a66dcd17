"""The levy account service, pages and reminders (portal/services/levy.py, portal/levy/, `flask levy remind`)."""
from datetime import date, datetime

import pyotp
import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, LevyEntry, LevySpend, OutboxMessage, utcnow
from portal.services import levy
from portal.services.levy_projection import add_months
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_user

TWO_STEP = {"totp_secret": pyotp.random_base32(), "totp_enabled_at": utcnow()}
TODAY = date(2026, 11, 22)
NOV = date(2026, 11, 1)


def m(n: int, base: date = NOV) -> date:
    """The month `n` months after `base` (before it if negative)."""
    return add_months(base, n)


def entry(provider, month: date, pence: int) -> LevyEntry:
    row = LevyEntry(provider_id=provider.id, month=month, amount_pence=pence)
    db.session.add(row)
    return row


def spend(provider, month: date, pence: int) -> LevySpend:
    row = LevySpend(provider_id=provider.id, month=month, amount_pence=pence)
    db.session.add(row)
    return row


@pytest.fixture
def world(app):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    payer = make_provider(burnley, name="Pennine Aero", levy_payer=True)
    other_payer = make_provider(preston, name="Docklands Digital", levy_payer=True)
    small = make_provider(burnley, name="Small Garage")
    user = make_user(Role.PROVIDER, organisation=payer, email="levy@pennine.example")
    other_user = make_user(Role.PROVIDER, organisation=other_payer, email="levy@docklands.example")
    small_user = make_user(Role.PROVIDER, organisation=small, email="owner@garage.example")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley], **TWO_STEP)
    preston_coordinator = make_user(Role.COORDINATOR, areas=[preston], **TWO_STEP)
    db.session.commit()
    return locals()


def audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- last year's funds and the projection -----------------------------------------------------------------------

def test_last_year_funds_counts_the_12_full_months_before_this_month(world):
    payer = world["payer"]
    for n, pence in [(-13, 1), (-12, 10), (-6, 100), (-1, 1_000), (0, 10_000)]:
        entry(payer, m(n), pence)
    entry(world["other_payer"], m(-2), 99_999)
    db.session.commit()
    assert levy.last_year_funds(payer.id, today=TODAY) == 1_110
    assert levy.last_year_funds(payer.id, today=date(2026, 12, 1)) == 11_100
    assert levy.last_year_funds(world["small"].id, today=TODAY) == 0


def test_projection_reads_the_providers_rows(world):
    payer = world["payer"]
    entry(payer, m(-23), 50_000)  # expires at the start of December 2026
    entry(payer, m(-22), 30_000)  # expires in January 2027
    spend(payer, m(-1), 20_000)  # takes £200 of the oldest
    entry(world["other_payer"], m(-23), 1_000_000)
    db.session.commit()
    p = levy.projection(payer.id, today=TODAY)
    assert len(p.months) == 24
    assert (p.months[0].month, p.months[0].balance) == (NOV, 60_000)
    assert [(r.month, r.expired) for r in p.months if r.expired] == [(m(1), 30_000), (m(2), 30_000)]


# --- recording entries -----------------------------------------------------------------------------------------

def test_recording_an_entry_then_replacing_it_is_audited(world):
    payer, user = world["payer"], world["user"]
    result = levy.record_entry(payer, month=m(-1), amount_pence=123_456, replace=False, by=user, today=TODAY)
    assert result.previous is None and result.entry.amount_pence == 123_456
    with pytest.raises(ValidationFailed) as refused:
        levy.record_entry(payer, month=m(-1), amount_pence=100_000, replace=False, by=user, today=TODAY)
    assert refused.value.field == "month"
    assert "already recorded £1,234.56 for October 2026" in refused.value.message
    result = levy.record_entry(payer, month=m(-1), amount_pence=100_000, replace=True, by=user, today=TODAY)
    assert result.previous == 123_456
    assert db.session.scalar(select(func.count()).select_from(LevyEntry)) == 1
    assert db.session.scalar(select(LevyEntry.amount_pence)) == 100_000
    assert [e.detail for e in audits("levy.entry_recorded")] == ["2026-10: £1,234.56 entered"]
    assert [e.detail for e in audits("levy.entry_changed")] == ["2026-10: £1,234.56 changed to £1,000"]
    assert audits("levy.entry_changed")[0].actor_id == user.id


@pytest.mark.parametrize(("month", "amount", "field", "message"), [
    (date(2026, 12, 1), 100, "month", "this month has not started yet"),
    (date(2017, 3, 1), 100, "month", "April 2017"),
    (date(2026, 10, 5), 100, "month", "Choose a month"),
    (date(2026, 10, 1), 0, "amount", "more than £0"),
    (date(2026, 10, 1), -5, "amount", "more than £0"),
    (date(2026, 10, 1), None, "amount", "Enter an amount"),
    (date(2026, 10, 1), 10**11 * 100, "amount", "less than"),
])
def test_bad_entries_are_refused_beside_the_field(world, month, amount, field, message):
    with pytest.raises(ValidationFailed) as refused:
        levy.record_entry(world["payer"], month=month, amount_pence=amount, replace=False, by=world["user"],
                          today=TODAY)
    assert refused.value.field == field and message in refused.value.message
    assert db.session.scalar(select(func.count()).select_from(LevyEntry)) == 0


def test_only_the_providers_own_users_record_and_only_for_levy_payers(world):
    with pytest.raises(NotAllowed):
        levy.record_entry(world["payer"], month=m(-1), amount_pence=100, replace=False, by=world["other_user"],
                          today=TODAY)
    with pytest.raises(NotAllowed):
        levy.record_spend(world["payer"], month=m(-1), amount_pence=100, note=None, by=world["coordinator"],
                          today=TODAY)
    with pytest.raises(InvalidState, match="levy payer"):
        levy.record_entry(world["small"], month=m(-1), amount_pence=100, replace=False, by=world["small_user"],
                          today=TODAY)
    assert db.session.scalar(select(func.count()).select_from(LevyEntry)) == 0


def test_an_entry_cannot_be_lowered_below_what_was_spent_from_it(world):
    payer, user = world["payer"], world["user"]
    levy.record_entry(payer, month=m(-3), amount_pence=50_000, replace=False, by=user, today=TODAY)
    levy.record_spend(payer, month=m(-2), amount_pence=40_000, note=None, by=user, today=TODAY)
    with pytest.raises(ValidationFailed, match="September 2026 would be £100 more than the funds"):
        levy.record_entry(payer, month=m(-3), amount_pence=30_000, replace=True, by=user, today=TODAY)
    assert db.session.scalar(select(LevyEntry.amount_pence)) == 50_000


# --- recording spends ------------------------------------------------------------------------------------------

def test_spends_take_the_oldest_funds_and_overspending_is_refused(world):
    payer, user = world["payer"], world["user"]
    levy.record_entry(payer, month=m(-3), amount_pence=30_000, replace=False, by=user, today=TODAY)
    levy.record_entry(payer, month=m(-2), amount_pence=20_000, replace=False, by=user, today=TODAY)
    levy.record_spend(payer, month=m(-1), amount_pence=35_000, note="Level 3 training", by=user, today=TODAY)
    with pytest.raises(ValidationFailed) as refused:
        levy.record_spend(payer, month=m(-1), amount_pence=15_001, note=None, by=user, today=TODAY)
    assert refused.value.field == "amount"
    assert "at most £150 in October 2026" in refused.value.message
    p = levy.projection(payer.id, today=TODAY)
    # August's £300 was spent in full, then £50 of September's: £150 of September's expires in September 2028.
    assert p.months[0].balance == 15_000
    assert [(r.month, r.expired) for r in p.months if r.expired] == [(date(2028, 9, 1), 15_000)]
    assert [e.detail for e in audits("levy.spend_recorded")] == ["2026-10: £350 spent"]
    assert db.session.scalar(select(LevySpend.note)) == "Level 3 training"


def test_a_spend_cannot_use_expired_funds(world):
    payer, user = world["payer"], world["user"]
    entry(payer, m(-24), 50_000)  # expired at the start of November 2026
    entry(payer, m(-23), 10_000)
    db.session.commit()
    with pytest.raises(ValidationFailed, match="at most £100 in November 2026"):
        levy.record_spend(payer, month=NOV, amount_pence=20_000, note=None, by=user, today=TODAY)
    # In October it was still there.
    levy.record_spend(payer, month=m(-1), amount_pence=20_000, note=None, by=user, today=TODAY)
    assert levy.projection(payer.id, today=TODAY).months[0].expired == 30_000


def test_an_earlier_spend_that_would_leave_a_later_one_short_is_refused(world):
    payer, user = world["payer"], world["user"]
    levy.record_entry(payer, month=m(-3), amount_pence=10_000, replace=False, by=user, today=TODAY)
    levy.record_spend(payer, month=m(-1), amount_pence=8_000, note=None, by=user, today=TODAY)
    with pytest.raises(ValidationFailed, match="October 2026 £50 short"):
        levy.record_spend(payer, month=m(-2), amount_pence=7_000, note=None, by=user, today=TODAY)
    assert db.session.scalar(select(func.count()).select_from(LevySpend)) == 1


def test_a_spend_with_no_funds_says_so(world):
    with pytest.raises(ValidationFailed, match="no funds to spend in October 2026"):
        levy.record_spend(world["payer"], month=m(-1), amount_pence=1, note=None, by=world["user"], today=TODAY)


# --- at risk across areas --------------------------------------------------------------------------------------

def test_expiring_lists_levy_at_risk_soonest_then_largest(world):
    payer, other = world["payer"], world["other_payer"]
    third = make_provider(world["burnley"], name="Aardvark Ltd", levy_payer=True)
    entry(payer, m(-23), 10_000)  # expires December 2026 (within 3)
    entry(payer, m(-19), 5_000)  # April 2027 (within 6)
    entry(third, m(-23), 90_000)  # December 2026, larger: first
    entry(other, m(-20), 7_000)  # March 2027
    entry(make_provider(world["burnley"], name="Not Paying"), m(-23), 10**6)  # not a levy payer
    entry(make_provider(world["burnley"], name="Safe Ltd", levy_payer=True), m(-10), 10**6)  # nothing soon
    db.session.commit()
    rows = levy.expiring(None, today=TODAY)
    assert [(r.provider_name, r.within_soon, r.within_later, r.next_month) for r in rows] == [
        ("Aardvark Ltd", 90_000, 90_000, m(1)),
        ("Pennine Aero", 10_000, 15_000, m(1)),
        ("Docklands Digital", 0, 7_000, m(4)),
    ]
    assert [r.provider_name for r in levy.expiring({world["preston"].id}, today=TODAY)] == ["Docklands Digital"]
    assert levy.expiring(set(), today=TODAY) == []


# --- pages -----------------------------------------------------------------------------------------------------

THIS_MONTH = date.today().replace(day=1)


def test_the_account_page_shows_24_months_with_what_expires_when(client, login, world):
    payer = world["payer"]
    entry(payer, m(-22, THIS_MONTH), 123_456)  # expires two months from now
    spend(payer, m(-1, THIS_MONTH), 23_456)
    make_offer(payer, type="levy_place", title="Engineering apprenticeship")
    db.session.commit()
    login(world["user"])
    body = client.get("/levy").get_data(as_text=True)
    assert "Levy account: Pennine Aero" in body
    assert body.count('<th scope="row">') >= 24
    expiry = levy.month_label(m(2, THIS_MONTH))
    assert f'<th scope="row">{expiry}</th>' in body
    assert "<strong>£1,000</strong>" in body  # £1,234.56 less the £234.56 spent, expiring
    assert "£1,000 will expire within 3 months" not in body  # the alert speaks of 6 months
    assert "£1,000 will expire within 6 months" in body
    assert "Engineering apprenticeship" in body
    assert "/offers/new?type=levy_place" in body and 'href="/pledges"' in body
    assert 'action="/levy/entries"' in body and 'action="/levy/spends"' in body


def test_a_provider_records_an_entry_in_pounds(client, login, world):
    login(world["user"])
    month = m(-1, THIS_MONTH)
    response = client.post("/levy/entries", data={"entry-month": month.isoformat(), "entry-amount": "£1,234.56"})
    assert response.status_code == 302
    assert db.session.scalar(select(LevyEntry.amount_pence).where(LevyEntry.month == month)) == 123_456
    body = client.get("/levy").get_data(as_text=True)
    assert f"{levy.month_label(month)}: £1,234.56 recorded." in body


@pytest.mark.parametrize(("data", "message"), [
    ({"entry-month": "", "entry-amount": "100"}, "Choose a month."),
    ({"entry-month": "1999-01-01", "entry-amount": "100"}, "Choose one of the months in the list."),
    ({"entry-month": "next week", "entry-amount": "100"}, "Choose a month."),
    ({"entry-month": THIS_MONTH.isoformat(), "entry-amount": "lots"}, "Enter an amount in pounds"),
    ({"entry-month": THIS_MONTH.isoformat(), "entry-amount": ""}, "Enter an amount in pounds, e.g. 1,250.00."),
    ({"entry-month": THIS_MONTH.isoformat(), "entry-amount": "0"}, "Enter an amount of more than £0."),
])
def test_bad_entry_input_is_shown_beside_the_field_and_kept(client, login, world, data, message):
    login(world["user"])
    response = client.post("/levy/entries", data=data)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body and 'class="invalid-feedback d-block"' in body
    assert "There is a problem" in body
    if data["entry-amount"]:
        assert f'value="{data["entry-amount"]}"' in body
    assert db.session.scalar(select(func.count()).select_from(LevyEntry)) == 0


def test_a_spend_larger_than_the_balance_is_refused_on_the_page(client, login, world):
    entry(world["payer"], m(-2, THIS_MONTH), 10_000)
    db.session.commit()
    login(world["user"])
    month = m(-1, THIS_MONTH).isoformat()
    response = client.post("/levy/spends", data={"spend-month": month, "spend-amount": "150", "spend-note": "Fees"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert f"You can spend at most £100 in {levy.month_label(m(-1, THIS_MONTH))}" in body
    assert 'value="Fees"' in body
    response = client.post("/levy/spends", data={"spend-month": month, "spend-amount": "60.50", "spend-note": "Fees"})
    assert response.status_code == 302
    assert db.session.scalar(select(LevySpend.amount_pence)) == 6_050


def test_a_month_already_recorded_needs_the_replace_box(client, login, world):
    entry(world["payer"], THIS_MONTH, 10_000)
    db.session.commit()
    login(world["user"])
    data = {"entry-month": THIS_MONTH.isoformat(), "entry-amount": "200"}
    body = client.post("/levy/entries", data=data).get_data(as_text=True)
    assert "You have already recorded £100" in body
    response = client.post("/levy/entries", data={**data, "entry-replace": "y"}, follow_redirects=True)
    assert "changed from £100 to £200" in response.get_data(as_text=True)
    assert db.session.scalar(select(LevyEntry.amount_pence)) == 20_000


def test_a_provider_that_does_not_pay_the_levy_is_told_how_to_become_one(client, login, world):
    login(world["small_user"])
    response = client.get("/levy")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Levy accounts are for levy payers" in body
    assert f'/organisations/{world["small"].id}/edit' in body and "Apprenticeship levy payer" in body
    assert "Levy account</a>" not in body  # not in the navigation
    response = client.post("/levy/entries", data={"entry-month": THIS_MONTH.isoformat(), "entry-amount": "5"})
    assert response.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(LevyEntry)) == 0
    login(world["user"])
    assert "Levy account</a>" in client.get("/levy").get_data(as_text=True)


def test_other_providers_accounts_are_refused(client, login, world):
    login(world["user"])
    assert client.get(f"/levy/providers/{world['other_payer'].id}").status_code == 403
    assert client.get(f"/levy/providers/{world['payer'].id}").headers["Location"].endswith("/levy")
    login(world["preston_coordinator"])
    assert client.get(f"/levy/providers/{world['payer'].id}").status_code == 403
    assert client.get("/levy").status_code == 403
    login(world["coordinator"])
    body = client.get(f"/levy/providers/{world['payer'].id}").get_data(as_text=True)
    assert "Levy account: Pennine Aero" in body
    assert 'action="/levy/entries"' not in body  # read only
    assert client.post("/levy/entries", data={}).status_code == 403


def test_the_at_risk_page_is_scoped_to_the_coordinators_areas_with_a_total(client, login, world):
    entry(world["payer"], m(-23, THIS_MONTH), 10_000)
    entry(world["payer"], m(-19, THIS_MONTH), 5_000)
    third = make_provider(world["burnley"], name="Aardvark Ltd", levy_payer=True)
    entry(third, m(-20, THIS_MONTH), 2_000)
    entry(world["other_payer"], m(-23, THIS_MONTH), 77_700)  # Preston
    db.session.commit()
    login(world["coordinator"])
    body = client.get("/levy/at-risk").get_data(as_text=True)
    assert "Docklands" not in body and "£777" not in body
    assert body.index("Pennine Aero") < body.index("Aardvark Ltd")  # December before March
    assert "Total (2 providers)" in body
    assert '<td class="text-end">£100</td>' in body and '<td class="text-end">£170</td>' in body
    login(world["preston_coordinator"])
    body = client.get("/levy/at-risk").get_data(as_text=True)
    assert "Docklands Digital" in body and "Pennine" not in body
    login(world["user"])
    assert client.get("/levy/at-risk").status_code == 403


# --- reminders -------------------------------------------------------------------------------------------------

def test_reminders_are_mailed_once_per_provider_and_expiring_month(runner, mailbox, world):
    payer = world["payer"]
    second = make_user(Role.PROVIDER, organisation=payer, email="finance@pennine.example")
    entry(payer, m(-23), 40_000)  # expires December 2026: within 3 months of 22 November 2026
    entry(payer, m(-19), 9_900)  # expires April 2027: not yet
    entry(world["other_payer"], m(-10), 10**6)  # nothing soon
    entry(world["small"], m(-23), 10**6)  # not a levy payer
    db.session.commit()
    result = runner.invoke(args=["levy", "remind", "--now", "2026-11-22T08:00"])
    assert result.exit_code == 0 and "Reminded 1 provider." in result.output
    messages = mailbox()
    assert sorted(msg["To"] for msg in messages) == ["finance@pennine.example", "levy@pennine.example"]
    text = messages[0].get_body(("plain",)).get_content()
    assert "£400 expires at the start of December 2026" in text
    assert "April 2027" not in text
    assert "/offers/new?type=levy_place" in text and "/levy" in text
    assert [e.detail for e in audits(levy.REMINDER_ACTION)] == ["2026-12: £400 expiring; 2 user(s) mailed"]
    # Again the same week: nothing new.
    result = runner.invoke(args=["levy", "remind", "--now", "2026-11-29T08:00"])
    assert "Reminded 0 providers." in result.output
    assert len(mailbox()) == 2
    # In January, April 2027's funds come within 3 months: one more mail each, for that month only.
    result = runner.invoke(args=["levy", "remind", "--now", "2027-01-05T08:00"])
    assert "Reminded 1 provider." in result.output
    later = mailbox()[2:]
    assert len(later) == 2 and second.email in [msg["To"] for msg in later]
    text = later[0].get_body(("plain",)).get_content()
    assert "£99 expires at the start of April 2027" in text and "December 2026" not in text
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 4


def test_funds_spent_before_expiry_are_not_reminded(runner, mailbox, world):
    entry(world["payer"], m(-23), 40_000)
    spend(world["payer"], m(-1), 40_000)
    db.session.commit()
    result = runner.invoke(args=["levy", "remind", "--now", "2026-11-22T08:00"])
    assert "Reminded 0 providers." in result.output
    assert mailbox() == []


def test_the_remind_command_refuses_a_bad_time(runner, world):
    result = runner.invoke(args=["levy", "remind", "--now", "soon"])
    assert result.exit_code != 0 and "2026-03-01T09:00" in result.output


def test_send_reminders_defaults_to_now(world):
    entry(world["payer"], add_months(date.today().replace(day=1), -23), 1_000)
    db.session.commit()
    assert levy.send_reminders() == 1
    assert levy.send_reminders(now=datetime.now()) == 0


def test_spend_problem_is_none_when_the_funds_are_there(world):
    entry(world["payer"], m(-1), 5_000)
    db.session.commit()
    assert levy.spend_problem(world["payer"].id, month=NOV, amount_pence=5_000, today=TODAY) is None
    assert "at most £50" in levy.spend_problem(world["payer"].id, month=NOV, amount_pence=5_001, today=TODAY)


def test_a_spend_recorded_elsewhere_without_funds_is_flagged_on_the_account(client, login, world):
    # E.g. a pledge's transfer recorded as used when the account had not been kept up to date.
    entry(world["payer"], m(-1, THIS_MONTH), 1_000)
    spend(world["payer"], THIS_MONTH, 1_500)
    db.session.commit()
    login(world["user"])
    body = client.get("/levy").get_data(as_text=True)
    assert "Some recorded spends are larger than the funds that were available" in body
    assert f"{levy.month_label(THIS_MONTH)} (£5 short)" in body
