"""Writing to the append-only audit log. Never put a password, token or cookie in `detail`."""
from portal.extensions import db
from portal.models import AuditEvent

IP_MAX = AuditEvent.__table__.c.ip.type.length  # 45: the longest IPv6 text form


def record(
    action: str,
    *,
    actor=None,
    ip: str | None = None,
    target=None,
    area_id: int | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (the caller's use case commits it)."""
    event = AuditEvent(
        action=action,
        actor_id=getattr(actor, "id", None),
        actor_email=getattr(actor, "email", None),
        object_type=type(target).__name__.lower() if target is not None else None,
        object_id=getattr(target, "id", None),
        area_id=area_id,
        ip=ip[:IP_MAX] if ip else None,  # a forwarded address is the client's say: never longer than the column
        detail=detail,
    )
    db.session.add(event)
    return event
