"""The weekly digest: careers leads who switch it on get a mail of new offers near their school.

`send_weekly_digests` runs from `flask digest send` (weekly, from a scheduler). It lists offers
published in the seven days before `today` that the careers lead could browse (the same rule as
the browse page), in person within DIGEST_MILES of the school or virtual, newest first. Running it
every week on the same weekday therefore covers every day once. Nobody gets an empty digest.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.catalogue import Delivery
from portal.errors import NotAllowed
from portal.extensions import db
from portal.models import Offer, Organisation, User, UserStatus
from portal.services import audit, browse, mail
from portal.vocab import Role

DIGEST_MILES = 20
DIGEST_DAYS = 7
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


def offers_for(school: Organisation, *, today: date) -> list[Offer]:
    """New offers for this school's digest: browsable by it, published in the week before `today`, near or virtual."""
    since = datetime.combine(today - timedelta(days=DIGEST_DAYS), datetime.min.time())
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
    """Queue a digest for every active careers lead who asked for one and has new offers. Commits once."""
    today = today or date.today()
    leads = db.session.scalars(
        select(User)
        .options(joinedload(User.organisation))
        .where(User.role == Role.CAREERS_LEAD, User.status == UserStatus.ACTIVE, User.weekly_digest.is_(True),
               User.organisation_id.is_not(None))
        .order_by(User.id)
    ).all()
    browse_url = mail.link("browse.offers")
    sent = 0
    offers_by_school: dict[int, list[Offer]] = {}  # several leads of one school share one query
    for lead in leads:
        school = lead.organisation
        if school.id not in offers_by_school:
            offers_by_school[school.id] = offers_for(school, today=today)
        offers = offers_by_school[school.id]
        if not offers:
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
