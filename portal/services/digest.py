"""The weekly digest: careers leads who switch it on get a mail of new offers near their school.

`send_weekly_digests` runs from `flask digest send` (weekly, or daily, from a scheduler). It lists
offers published in the seven days before `today` that the careers lead could browse (the same rule
as the browse page), in person within DIGEST_MILES of the school or virtual, newest first. Nobody gets
an empty digest.

Once a week at most, every day once: each lead's last digest day is kept (User.last_digest_on). A lead
who had one less than DIGEST_DAYS ago gets none (running the command twice, or daily, sends nothing
more), and the next one covers the days since the last (DIGEST_MAX_DAYS at most), so a late run loses
no day.
The day is set by a conditional UPDATE in the same transaction as the queued mail: two schedulers
running at once send one digest.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from portal.catalogue import Delivery
from portal.errors import NotAllowed
from portal.extensions import db
from portal.models import Offer, Organisation, User, UserStatus
from portal.services import audit, browse, mail
from portal.services.db_locks import write_transaction
from portal.vocab import Role

DIGEST_MILES = 20
DIGEST_DAYS = 7
DIGEST_MAX_DAYS = 14  # a late run, or a lead back after a pause: the days since the last digest, two weeks at most
DIGEST_MAX_OFFERS = 20


def set_weekly_digest(user: User, *, on: bool, ip: str | None = None) -> bool:
    """Switch a careers lead's weekly digest on or off; returns whether anything changed. Commits once."""
    if user.role != Role.CAREERS_LEAD:
        raise NotAllowed("Only careers leads can have the weekly digest.")
    if bool(user.weekly_digest) == on:
        return False
    user.weekly_digest = on
    audit.record("digest.on" if on else "digest.off", actor=user, ip=ip, target=user,
                 area_id=user.organisation.area_id if user.organisation else None)
    db.session.commit()
    return True


@dataclass(frozen=True)
class DigestItem:
    title: str
    provider_name: str
    type_label: str
    distance: str
    places: str
    dates: str
    url: str


def offers_for(school: Organisation, *, today: date, since_day: date | None = None) -> list[Offer]:
    """New offers for this school's digest: browsable by it, published before `today` in the week before it or,
    given `since_day` (the lead's last digest), since then, DIGEST_MAX_DAYS at most; near or virtual."""
    first = since_day or today - timedelta(days=DIGEST_DAYS)
    since = datetime.combine(max(first, today - timedelta(days=DIGEST_MAX_DAYS)), datetime.min.time())
    until = datetime.combine(today, datetime.min.time())
    query = browse.visible_offers({school.area_id}, today=today).where(
        Offer.published_at >= since, Offer.published_at < until)
    if school.has_location:
        near = browse.squared_miles(school.latitude, school.longitude) <= DIGEST_MILES ** 2
        query = query.where(near | (Offer.delivery == Delivery.VIRTUAL))
    else:  # no location to measure from: only what needs no travel
        query = query.where(Offer.delivery == Delivery.VIRTUAL)
    query = query.order_by(Offer.published_at.desc(), Offer.id.desc()).limit(DIGEST_MAX_OFFERS)
    return list(db.session.scalars(query))


def digest_items(offers: list[Offer], school: Organisation) -> list[DigestItem]:
    return [
        DigestItem(
            title=offer.title,
            provider_name=offer.provider.name,
            type_label=browse.type_label(offer.type),
            distance=browse.offer_distance_label(offer, school),
            places=browse.quantity(offer.type, offer.places_left) + " left",
            dates=browse.date_range(offer.starts_on, offer.ends_on),
            url=mail.link("offers.view", offer_id=offer.id),
        )
        for offer in offers
    ]


def send_weekly_digests(*, today: date | None = None) -> int:
    """Queue a digest for every active careers lead who asked for one, had none within the week and has new
    offers. One transaction (a writer from the start), committed once."""
    today = today or date.today()
    week_ago = today - timedelta(days=DIGEST_DAYS)
    due = User.last_digest_on.is_(None) | (User.last_digest_on <= week_ago)
    sent = 0
    with write_transaction():
        leads = db.session.scalars(
            select(User)
            .options(joinedload(User.organisation))
            .where(User.role == Role.CAREERS_LEAD, User.status == UserStatus.ACTIVE, User.weekly_digest.is_(True),
                   User.organisation_id.is_not(None), due)
            .order_by(User.id)
        ).all()
        browse_url = mail.link("browse.offers")
        offers_by_window: dict[tuple[int, date | None], list[Offer]] = {}  # leads of one school share a query
        for lead in leads:
            school = lead.organisation
            window = (school.id, lead.last_digest_on)
            if window not in offers_by_window:
                offers_by_window[window] = offers_for(school, today=today, since_day=lead.last_digest_on)
            offers = offers_by_window[window]
            if not offers:
                continue
            claimed = db.session.execute(  # another run that got here first has set the day: it sends
                update(User).where(User.id == lead.id, due).values(last_digest_on=today)
                .execution_options(synchronize_session=False)).rowcount
            if not claimed:
                continue
            count = len(offers)
            mail.queue_mail(
                lead.email,
                f"{count} new offer{'' if count == 1 else 's'} near {school.name}",
                "weekly_digest",
                name=lead.name,
                school_name=school.name,
                items=digest_items(offers, school),
                miles=DIGEST_MILES,
                browse_url=browse_url,
            )
            sent += 1
        db.session.commit()
    return sent
