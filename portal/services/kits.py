"""Primary resource kits (5/6): a primary careers lead asks for a kit (a primary_kit offer) for one class; the
provider sends it; the school records that the class used it (a primary encounter, counted by
services.counting.primary_reach, never toward the secondary target, an area setting).

Stock is the offer's kit_stock. It is taken with ONE conditional UPDATE (`kit_stock - 1 ... WHERE kit_stock >= 1`,
its row count checked; the CHECK kit_stock >= 0 holds it too) inside write_transaction(), so two requests never
take the last kit twice; a cancelled request gives its kit back in the same transaction. Lock order: the kit
request's row, then the offer's. Every use case is audited and commits once.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select, update

from portal import policy
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import KitRequest, KitRequestStatus, Offer, OfferStatus, Organisation, User, UserStatus, utcnow
from portal.services import audit, mail
from portal.services.db_locks import write_transaction
from portal.vocab import PHASE_YEARS, Role, year_label

KIT_TYPE = "primary_kit"
PRIMARY_YEARS = tuple(range(0, 7))  # Reception (0) to Year 6
CLASS_NAME_MAX = 60
NOTE_MAX = 1000
PUPILS_MIN, PUPILS_MAX = 1, 60

STATUS_LABELS = {
    KitRequestStatus.REQUESTED: "Requested",
    KitRequestStatus.SENT: "Sent",
    KitRequestStatus.USED: "Used",
    KitRequestStatus.CANCELLED: "Cancelled",
}
# The lifecycle: requested -> sent (by the provider) -> used (by the school); cancelled from requested or sent.
OUTSTANDING = (KitRequestStatus.REQUESTED, KitRequestStatus.SENT)  # not yet used: the provider may still cancel
USABLE = (KitRequestStatus.SENT,)  # the class can only have used a kit the provider has sent

_offers = Offer.__table__
_kit_requests = KitRequest.__table__


class OutOfStock(InvalidState):
    """Every kit of this offer has been asked for."""


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def primary_years(school: Organisation | None) -> list[int]:
    """The primary year groups (Reception–Year 6) the school's phase teaches; none for secondary-only schools."""
    if school is None or not school.is_school:
        return []
    return [year for year in PHASE_YEARS.get(school.phase or "", ()) if year in PRIMARY_YEARS]


def year_choices(school: Organisation | None) -> list[tuple[int, str]]:
    return [(year, year_label(year)) for year in primary_years(school)]


# --- what the pages show -------------------------------------------------------------------------------------------

def available_kits(school: Organisation) -> list[Offer]:
    """Published kits of the school's area, or open to every area, with stock left; by title."""
    return list(db.session.scalars(
        select(Offer).where(Offer.type == KIT_TYPE, Offer.status == OfferStatus.PUBLISHED, Offer.kit_stock >= 1,
                            or_(Offer.area_id == school.area_id, Offer.open_to_all_areas.is_(True)))
        .order_by(Offer.title, Offer.id)))


def requests_of_school(school: Organisation) -> list[KitRequest]:
    return list(db.session.scalars(
        select(KitRequest).where(KitRequest.school_id == school.id)
        .order_by(KitRequest.created_at.desc(), KitRequest.id.desc())))


def requests_for_provider(provider_id: int) -> list[KitRequest]:
    """Requests for the provider's kits: school names and class sizes only (there is no pupil-level data here)."""
    return list(db.session.scalars(
        select(KitRequest).join(Offer, Offer.id == KitRequest.offer_id).where(Offer.provider_id == provider_id)
        .order_by(KitRequest.created_at.desc(), KitRequest.id.desc())))


@dataclass(frozen=True)
class Action:
    label: str
    endpoint: str
    post: bool = False  # a button (POST form) rather than a link to a confirmation page


def actions_for(user: User, kit_request: KitRequest) -> list[Action]:
    """What this user may do to the request now, in the order the page shows them."""
    actions = []
    status = kit_request.status
    if policy.can_send_kit(user, kit_request) and status == KitRequestStatus.REQUESTED:
        actions.append(Action("Mark as sent", "kits.mark_sent", post=True))
    if policy.can_manage_kit_request(user, kit_request) and status in USABLE:
        actions.append(Action("Record that the class used it", "kits.mark_used"))
    if _may_cancel(user, kit_request):
        actions.append(Action("Cancel the request", "kits.cancel"))
    return actions


def _may_cancel(user: User, kit_request: KitRequest) -> bool:
    if policy.can_manage_kit_request(user, kit_request):
        return kit_request.status == KitRequestStatus.REQUESTED  # the school, before it is sent
    if policy.can_send_kit(user, kit_request):
        return kit_request.status in OUTSTANDING
    return False


def describe(kit_request: KitRequest) -> str:
    """'When I Grow Up for Class Oak (Year 1, 28 pupils)'."""
    return (f"{kit_request.offer.title} for {kit_request.class_name} ({year_label(kit_request.year_group)}, "
            f"{kit_request.pupils} pupil{'s' if kit_request.pupils != 1 else ''})")


# --- use cases -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KitOrder:
    class_name: str | None
    year_group: int | None
    pupils: int | None
    note: str | None = None


def _check_order(order: KitOrder, school: Organisation) -> KitOrder:
    """Validate a request for one class; the first problem is raised against its field."""
    class_name = (order.class_name or "").strip()
    if not class_name:
        raise ValidationFailed("Enter the class's name, e.g. Oak class.", field="class_name")
    if len(class_name) > CLASS_NAME_MAX:
        raise ValidationFailed(f"Keep the class's name to {CLASS_NAME_MAX} characters or fewer.", field="class_name")
    years = primary_years(school)
    if order.year_group not in years:
        first, last = year_label(years[0]), year_label(years[-1])
        raise ValidationFailed(f"Choose a year group your school teaches, from {first} to {last}.",
                               field="year_group")
    if order.pupils is None or not PUPILS_MIN <= order.pupils <= PUPILS_MAX:
        raise ValidationFailed(f"Enter the number of pupils in the class, from {PUPILS_MIN} to {PUPILS_MAX}.",
                               field="pupils")
    note = (order.note or "").strip() or None
    if note and len(note) > NOTE_MAX:
        raise ValidationFailed(f"Keep the note to {NOTE_MAX} characters or fewer.", field="note")
    return KitOrder(class_name, order.year_group, order.pupils, note)


def _members(organisation_id: int, role: Role) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.organisation_id == organisation_id, User.role == role,
                           User.status == UserStatus.ACTIVE).order_by(User.id)))


def _context(kit_request: KitRequest) -> dict:
    return {"kit_title": kit_request.offer.title, "school_name": kit_request.school.name,
            "provider_name": kit_request.offer.provider.name, "class_name": kit_request.class_name,
            "year": year_label(kit_request.year_group), "pupils": kit_request.pupils, "note": kit_request.note}


def _mail_provider(kit_request: KitRequest, template: str, subject: str, **extra) -> None:
    for person in _members(kit_request.offer.provider_id, Role.PROVIDER):
        mail.queue_mail(person.email, subject, template, name=person.name, url=mail.link("kits.provider_requests"),
                        **_context(kit_request), **extra)


def _mail_school(kit_request: KitRequest, template: str, subject: str, **extra) -> None:
    for person in _members(kit_request.school_id, Role.CAREERS_LEAD):
        mail.queue_mail(person.email, subject, template, name=person.name, url=mail.link("kits.index"),
                        **_context(kit_request), **extra)


def request_kit(offer: Offer, order: KitOrder, *, by: User, ip: str | None = None) -> KitRequest:
    """A primary careers lead asks for one kit for one class: one kit is taken from stock. Commits once.

    Raises NotAllowed (not a primary-phase careers lead, or a kit they cannot see), ValidationFailed (per field),
    OutOfStock (no kit left, even when another request took the last one a moment ago) or InvalidState (the offer
    is no longer published)."""
    school = by.organisation
    if not policy.can_request_kits(by) or offer.type != KIT_TYPE or not policy.can_see_offer(by, offer):
        raise NotAllowed("Only careers leads of schools with primary year groups can ask for this kit.")
    order = _check_order(order, school)
    offer_id, title = offer.id, offer.title
    with write_transaction():
        taken = db.session.execute(
            update(_offers)
            .where(_offers.c.id == offer_id, _offers.c.type == KIT_TYPE, _offers.c.kit_stock >= 1,
                   _offers.c.status == OfferStatus.PUBLISHED)
            .values(kit_stock=_offers.c.kit_stock - 1, version=_offers.c.version + 1, updated_at=utcnow()))
        if taken.rowcount != 1:
            status = db.session.scalar(select(_offers.c.status).where(_offers.c.id == offer_id))
            if status != OfferStatus.PUBLISHED:
                raise InvalidState(f"“{title}” is no longer offered, so it cannot be requested.")
            raise OutOfStock(f"“{title}” is out of stock: every kit has been requested. Choose another kit, or "
                             "ask again when the provider adds more.")
        kit_request = KitRequest(offer_id=offer_id, school_id=school.id, area_id=school.area_id,
                                 class_name=order.class_name, year_group=order.year_group, pupils=order.pupils,
                                 note=order.note, status=KitRequestStatus.REQUESTED, requested_by_id=by.id)
        db.session.add(kit_request)
        db.session.flush()
        db.session.expire(offer)  # changed behind the ORM's back (kit_stock, version)
        audit.record("kit.request", actor=by, ip=ip, target=kit_request, area_id=school.area_id,
                     detail=f"offer {offer_id}; {year_label(order.year_group)}; {order.pupils} pupils")
        _mail_provider(kit_request, "kit_requested", f"Kit requested: {title} for {school.name}")
        db.session.commit()
    return kit_request


def _move(kit_request: KitRequest, allowed: tuple[str, ...], to: str, **values) -> bool:
    """One conditional UPDATE of the request's status; False when it had moved on meanwhile."""
    result = db.session.execute(
        update(_kit_requests).where(_kit_requests.c.id == kit_request.id, _kit_requests.c.status.in_(allowed))
        .values(status=to, updated_at=utcnow(), **values))
    db.session.expire(kit_request)
    return result.rowcount == 1


def _not_now(kit_request: KitRequest, doing: str) -> InvalidState:
    db.session.refresh(kit_request)
    return InvalidState(f"This request is {status_label(kit_request.status).lower()}, so it cannot be {doing}.")


def mark_sent(kit_request: KitRequest, *, by: User, ip: str | None = None) -> KitRequest:
    """The kit's provider marks the kit as sent; the school's careers leads are told. Commits once."""
    if not policy.can_send_kit(by, kit_request):
        raise NotAllowed("Only the kit's provider can mark it as sent.")
    with write_transaction():
        if not _move(kit_request, (KitRequestStatus.REQUESTED,), KitRequestStatus.SENT, sent_at=utcnow()):
            raise _not_now(kit_request, "marked as sent")
        audit.record("kit.sent", actor=by, ip=ip, target=kit_request, area_id=kit_request.area_id)
        _mail_school(kit_request, "kit_sent", f"Kit on its way: {kit_request.offer.title}")
        db.session.commit()
    return kit_request


def mark_used(kit_request: KitRequest, *, by: User, ip: str | None = None) -> KitRequest:
    """The school records that the class used the kit: a primary encounter for the class's pupils. Commits once."""
    if not policy.can_manage_kit_request(by, kit_request):
        raise NotAllowed("Only the school's careers leads can record that the class used the kit.")
    with write_transaction():
        if not _move(kit_request, USABLE, KitRequestStatus.USED, used_at=utcnow()):
            refused = _not_now(kit_request, "recorded as used")  # reloads the status
            if kit_request.status == KitRequestStatus.REQUESTED:
                refused = InvalidState("The provider has not sent this kit yet: record that the class used it "
                                       "once it has been sent.")
            raise refused
        audit.record("kit.used", actor=by, ip=ip, target=kit_request, area_id=kit_request.area_id,
                     detail=f"{kit_request.pupils} pupils")
        db.session.commit()
    return kit_request


def cancel(kit_request: KitRequest, *, by: User, ip: str | None = None) -> KitRequest:
    """The school (before the kit is sent) or the provider (until it is used) cancels; the kit goes back to stock
    in the same transaction, and the other side is told. Commits once."""
    school_side = policy.can_manage_kit_request(by, kit_request)
    if school_side:
        allowed = (KitRequestStatus.REQUESTED,)
    elif policy.can_send_kit(by, kit_request):
        allowed = OUTSTANDING
    else:
        raise NotAllowed("Only the school's careers leads or the kit's provider can cancel this request.")
    with write_transaction():
        if not _move(kit_request, allowed, KitRequestStatus.CANCELLED):
            raise _not_now(kit_request, "cancelled" if not school_side else "cancelled by the school (once a kit "
                           "is sent, ask the provider)")
        returned = db.session.execute(
            update(_offers).where(_offers.c.id == kit_request.offer_id)
            .values(kit_stock=_offers.c.kit_stock + 1, version=_offers.c.version + 1, updated_at=utcnow()))
        if returned.rowcount != 1:
            raise InvalidState("The kit's offer is missing: nothing was changed. Tell your coordinator.")
        db.session.expire(kit_request.offer)
        side = "school" if school_side else "provider"
        audit.record("kit.cancel", actor=by, ip=ip, target=kit_request, area_id=kit_request.area_id,
                     detail=f"by the {side}")
        subject = f"Kit request cancelled: {kit_request.offer.title} for {kit_request.school.name}"
        if school_side:
            _mail_provider(kit_request, "kit_cancelled", subject, by_name=kit_request.school.name)
        else:
            _mail_school(kit_request, "kit_cancelled", subject, by_name=kit_request.offer.provider.name)
        db.session.commit()
    return kit_request


# --- the coordinator's reach page ----------------------------------------------------------------------------------

def reach_areas(user: User):
    """The areas whose primary reach the user sees: a coordinator's own, every area for admins."""
    from portal.models import Area

    areas = policy.visible_area_ids(user)
    query = select(Area).order_by(Area.name)
    if areas is not None:
        query = query.where(Area.id.in_(areas or {-1}))
    return list(db.session.scalars(query))


def target_phrase(areas) -> str:
    """What kits are reported apart from, in running text: 'the secondary target of three' when the areas share
    one target (counting.target_text), else 'the secondary target'."""
    from portal.services import counting

    words = {counting.target_text(area) for area in areas}
    return f"the secondary target of {words.pop()}" if len(words) == 1 else "the secondary target"


def reach(user: User, *, start: date, end: date):
    """Primary reach for the user's areas in the period (the rule is services.counting.primary_reach's)."""
    from portal.services import counting

    areas = reach_areas(user)
    return areas, counting.primary_reach([area.id for area in areas], start=start, end=end)

