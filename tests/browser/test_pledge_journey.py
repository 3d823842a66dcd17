"""A levy transfer pledge from creation to accepted application, in a real browser with axe-core on every page:
a levy payer pledges (an amount over half of last year's funds is refused beside the field first), a smaller
employer nearby finds the pledge, sees that it meets every criterion and applies; the pledge approves it at once;
the applicant accepts it; the pledger sees it accepted and both sides have been mailed."""
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import LevyEntry, PledgeApplication
from portal.vocab import Role
from tests.browser.test_marketplace import arrive, error_summary_links_to, flash, go_to, sign_in, sign_out
from tests.factories import make_area, make_provider, make_user

pytestmark = pytest.mark.browser

PLEDGER_EMAIL = "finance@pennine-aero.example"
APPLICANT_EMAIL = "asha@padiham-precision.example"
TITLE = "Engineering apprenticeships near Burnley"


def seed(live_server) -> None:
    """A levy payer in Burnley with £1,000 entered in each of the last 12 full months (so up to £6,000 may be
    pledged), and a small engineering firm in Padiham, about 3 miles away."""

    def create() -> None:
        area = make_area("Burnley")
        pledger = make_provider(area, name="Pennine Aerostructures Ltd", levy_payer=True, size_band="large",
                                latitude=53.789, longitude=-2.248, sectors=("engineering",))
        make_user(Role.PROVIDER, organisation=pledger, email=PLEDGER_EMAIL, name="Neil Crabtree")
        applicant = make_provider(area, name="Padiham Precision Ltd", size_band="small", town="Padiham",
                                  latitude=53.797, longitude=-2.311, sectors=("engineering",))
        make_user(Role.PROVIDER, organisation=applicant, email=APPLICANT_EMAIL, name="Asha Patel")
        first = date.today().replace(day=1)
        for n in range(1, 13):
            index = first.year * 12 + first.month - 1 - n
            db.session.add(LevyEntry(provider_id=pledger.id, month=date(index // 12, index % 12 + 1, 1),
                                     amount_pence=100_000))
        db.session.commit()

    live_server.run(create)


def fact(page: Page, label: str):
    """The value beside a label in a facts list."""
    return page.locator("dt", has_text=re.compile(f"^{label}$")).first.locator("xpath=following-sibling::dd[1]")


def test_a_pledge_from_creation_to_accepted_application(page, live_server):
    seed(live_server)

    # The levy payer pledges: too much first, refused beside the field with the figure; then within the rule.
    sign_in(page, live_server, PLEDGER_EMAIL, welcome="Neil Crabtree")
    go_to(page, "Pledges", "Your levy pledges")
    page.get_by_role("link", name="Make a pledge").click()
    arrive(page, "Make a levy pledge")
    expect(page.get_by_text("so you can pledge up to £6,000")).to_be_visible()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Amount (£)").fill("8,000")
    page.get_by_label("Furthest distance from you (miles)").fill("10")
    page.get_by_label("Engineering and manufacturing").check()
    page.get_by_label("Level 3").check()
    page.get_by_label("Days before approving automatically").fill("0")
    page.get_by_role("button", name="Make the pledge").click()
    arrive(page, "Make a levy pledge")  # axe also runs with the error shown
    message = ("You can pledge at most £6,000: half of the £12,000 that entered your levy account in the 12 months "
               "before this month.")
    error_summary_links_to(page, message, "amount")
    expect(page.get_by_label("Title")).to_have_value(TITLE)
    expect(page.get_by_label("Level 3")).to_be_checked()
    expect(page.get_by_label("Days before approving automatically")).to_have_value("0")
    page.get_by_label("Amount (£)").fill("5,000")
    page.get_by_role("button", name="Make the pledge").click()
    arrive(page, TITLE)
    expect(flash(page)).to_contain_text("Your pledge of £5,000 is open to applications.")
    expect(fact(page, "Remaining")).to_have_text("£5,000")
    expect(fact(page, "Approves automatically")).to_contain_text("at once")
    sign_out(page)

    # The smaller employer finds it, meets every criterion and applies.
    sign_in(page, live_server, APPLICANT_EMAIL, welcome="Asha Patel")
    go_to(page, "Pledges", "Levy transfer pledges")
    page.get_by_label("Level").select_option("3")
    page.get_by_role("button", name="Filter").click()
    arrive(page, "Levy transfer pledges")
    row = page.get_by_role("row").filter(has_text=TITLE)
    expect(row).to_contain_text("£5,000")
    expect(row.get_by_text("you meet this")).to_have_count(3)
    row.get_by_role("link", name=TITLE).click()
    arrive(page, TITLE)
    page.get_by_role("link", name="Apply for this pledge").click()
    arrive(page, f"Apply for {TITLE}")
    page.get_by_label("Apprenticeship standard").fill("Engineering technician")
    page.get_by_label("Level", exact=True).select_option("3")
    page.get_by_label("Number of apprentices").fill("2")
    page.get_by_label("Amount (£)").fill("3000")
    expect(page.get_by_label("Town")).to_have_value("Padiham")
    page.get_by_label("Start date").fill((date.today() + timedelta(days=45)).isoformat())
    page.get_by_label("Message to the pledger").fill("Two apprentices starting this autumn.")
    page.get_by_role("button", name="Send the application").click()
    arrive(page, TITLE)
    expect(flash(page)).to_contain_text("It is awaiting acceptance.")  # approved at once
    expect(fact(page, "Remaining")).to_have_text("£2,000")
    application = page.get_by_role("article")
    expect(application).to_contain_text("Meets every criterion")

    # She accepts it.
    application.get_by_role("button", name="Accept").click()
    arrive(page, TITLE)
    expect(flash(page)).to_contain_text("Accepted.")
    expect(fact(page.get_by_role("article"), "Status")).to_have_text("Accepted")
    expect(page.get_by_role("button", name="Accept")).to_have_count(0)
    sign_out(page)

    # The pledger sees it accepted, ready to record the transfer as used.
    sign_in(page, live_server, PLEDGER_EMAIL, welcome="Neil Crabtree")
    go_to(page, "Pledges", "Your levy pledges")
    page.get_by_role("link", name=TITLE).click()
    arrive(page, TITLE)
    expect(fact(page.get_by_role("article"), "Status")).to_have_text("Accepted")
    expect(page.get_by_role("link", name=re.compile("^Record the transfer as used"))).to_be_visible()

    def status() -> str:
        return db.session.scalar(db.select(PledgeApplication.status))

    assert live_server.run(status) == "accepted"
    to_applicant = [" ".join(m["Subject"].split()) for m in live_server.mail_to(APPLICANT_EMAIL)]
    to_pledger = [" ".join(m["Subject"].split()) for m in live_server.mail_to(PLEDGER_EMAIL)]
    assert [s.split(":")[0] for s in to_applicant] == ["Application sent", "Approved", "Accepted"]
    assert [s.split(":")[0] for s in to_pledger] == ["New application", "Approved", "Accepted"]
