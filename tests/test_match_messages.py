"""A proposal's message reaches the side it was written to: a school's "Message to the provider" and a provider's
"Message to the school" are shown on the match page, labelled with who wrote them, escaped, to no one outside the
match. The provider's words are mailed with the proposal; the school's are only named in its mail, with a link to the
page (a school's words may name pupils)."""
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Match
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

TODAY = date.today()
SCHOOL_WROTE = 'Our <b>Year 10</b> group & "the hall" after lunch, please.'
SCHOOL_LABEL = "Message from Burnley High (the school)"
PROVIDER_WROTE = "Tuesdays suit us <script>alert(1)</script>."
PROVIDER_LABEL = "Message from Acme Engineering (the provider)"


class _Facts(HTMLParser):
    """The page's <dt>/<dd> pairs as text (entities decoded), as a person reads them."""

    def __init__(self):
        super().__init__()
        self.pairs: list[list[str]] = []
        self._tag: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "dt":
            self.pairs.append(["", ""])
        if tag in ("dt", "dd"):
            self._tag = tag

    def handle_endtag(self, tag):
        if tag in ("dt", "dd"):
            self._tag = None

    def handle_data(self, data):
        if self._tag and self.pairs:
            self.pairs[-1][0 if self._tag == "dt" else 1] += data


def facts(response) -> dict[str, str]:
    assert response.status_code == 200, response.status_code
    parser = _Facts()
    parser.feed(response.get_data(as_text=True))
    return {label.strip(): value.strip() for label, value in parser.pairs}


def plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP's line endings


def html(message) -> str:
    return message.get_body(("html",)).get_content()


@pytest.fixture
def world(app):
    """Burnley: a school and its lead, a provider with two contacts and an offer, a second provider and a second
    school (each with a user), a coordinator; Preston: a coordinator."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High", latitude=53.79, longitude=-2.25)
    lead = make_user(Role.CAREERS_LEAD, organisation=school, name="Lee Lead", email="lee@school.example")
    provider = make_provider(burnley, name="Acme Engineering", latitude=53.80, longitude=-2.24)
    contact = make_user(Role.PROVIDER, organisation=provider, name="Pat Provider", email="pat@acme.example")
    make_user(Role.PROVIDER, organisation=provider, name="Sol Second", email="sol@acme.example")
    other_provider = make_user(Role.PROVIDER, organisation=make_provider(burnley, name="Neighbour Ltd"),
                               email="n@neighbour.example")
    other_lead = make_user(Role.CAREERS_LEAD, organisation=make_school(burnley, name="Other High"),
                           email="o@other.example")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley], email="bea@burnley.example")
    other_coordinator = make_user(Role.COORDINATOR, areas=[preston], email="pia@preston.example")
    offer = make_offer(provider, title="Engineering talk", year_groups=(9, 10, 11), sessions=1, per_session=30,
                       starts_on=TODAY + timedelta(days=7), ends_on=TODAY + timedelta(days=67))
    db.session.commit()
    return locals()


def school_asks(client, login, world, message: str = SCHOOL_WROTE) -> Match:
    """The careers lead requests the offer through the form, with a message to the provider."""
    login(world["lead"])
    response = client.post(f"/browse/offers/{world['offer'].id}/request", data={
        "pupils": "25", "year_groups": ["9", "10"], "starts_on": str(TODAY + timedelta(days=10)),
        "ends_on": str(TODAY + timedelta(days=20)), "message": message})
    assert response.status_code == 302
    return db.session.scalar(select(Match))


def provider_offers(client, login, world) -> Match:
    """A provider contact offers the offer to the school's request, with a message to the school."""
    school_request = make_request(world["school"], pupils=40)
    db.session.commit()
    login(world["contact"])
    response = client.post(f"/browse/requests/{school_request.id}/offer",
                           data={"offer_id": world["offer"].id, "allocation": "30", "message": PROVIDER_WROTE})
    assert response.status_code == 302
    return db.session.scalar(select(Match))


def test_the_provider_reads_the_schools_message_on_the_match_page_labelled_with_who_wrote_it(client, login, world):
    match = school_asks(client, login, world)
    login(world["contact"])
    response = client.get(f"/matches/{match.id}")
    assert facts(response)[SCHOOL_LABEL] == SCHOOL_WROTE


@pytest.mark.parametrize("who", ["lead", "coordinator"])
def test_the_school_and_the_coordinator_see_it_there_too(client, login, world, who):
    match = school_asks(client, login, world)
    login(world[who])
    assert facts(client.get(f"/matches/{match.id}"))[SCHOOL_LABEL] == SCHOOL_WROTE


def test_the_coordinators_decision_pages_name_the_writer_the_same_way(client, login, world):
    match = school_asks(client, login, world)
    login(world["coordinator"])
    for page in (f"/matches/{match.id}/reject", f"/matches/{match.id}/allocation"):
        assert facts(client.get(page))[SCHOOL_LABEL] == SCHOOL_WROTE


def test_html_in_the_message_is_escaped_on_the_page(client, login, world):
    match = school_asks(client, login, world)
    login(world["contact"])
    body = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "<b>Year 10</b>" not in body
    assert "Our &lt;b&gt;Year 10&lt;/b&gt; group &amp; &#34;the hall&#34; after lunch" in body


def test_the_mail_to_the_provider_says_the_school_left_a_message_and_where_to_read_it_not_its_words(
        client, login, world, mailbox):
    """A school's words may name pupils despite the form's hint: they stay behind the sign-in, not in mailboxes."""
    match = school_asks(client, login, world)
    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["pat@acme.example", "sol@acme.example"]
    for message in messages:
        for body in (plain(message), html(message)):
            assert "Burnley High (the school) left a message with the request" in body
            assert f"/matches/{match.id}" in body
            assert "the hall" not in body and "Year 10</b>" not in body


def test_a_request_without_a_message_shows_and_mails_none(client, login, world, mailbox):
    match = school_asks(client, login, world, message="")
    assert match.message is None
    login(world["contact"])
    assert not [label for label in facts(client.get(f"/matches/{match.id}")) if label.startswith("Message")]
    [message, _] = mailbox()
    assert "Message from" not in plain(message) and "Message from" not in html(message)


@pytest.mark.parametrize("who", ["other_provider", "other_lead", "other_coordinator"])
def test_no_one_outside_the_match_sees_the_message(client, login, world, mailbox, who):
    match = school_asks(client, login, world)
    login(world[who])
    response = client.get(f"/matches/{match.id}")
    assert response.status_code in (403, 404)
    assert "the hall" not in response.get_data(as_text=True)
    assert world[who].email not in [m["To"] for m in mailbox()]


def test_the_opposite_direction_follows_the_same_rule(client, login, world, mailbox):
    """A provider's message to the school: on the school's match page and in its mail, named as the provider's."""
    match = provider_offers(client, login, world)
    login(world["lead"])
    response = client.get(f"/matches/{match.id}")
    assert facts(response)[PROVIDER_LABEL] == PROVIDER_WROTE
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    [message] = mailbox()
    assert message["To"] == "lee@school.example"
    assert f"{PROVIDER_LABEL}:\n\n{PROVIDER_WROTE}\n" in plain(message)
    assert "<script>" not in html(message) and "&lt;script&gt;alert(1)&lt;/script&gt;" in html(message)
