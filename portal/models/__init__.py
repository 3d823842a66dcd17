"""All models, imported here so metadata is complete for migrations and create_all()."""
from portal.models.areas import Area
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.organisations import Organisation, OrganisationSector, OrgKind, OrgStatus, SchoolYearSize
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.users import AuthToken, RecoveryCode, TokenPurpose, User, UserStatus, coordinator_areas

__all__ = [
    "Area",
    "AuditEvent",
    "AuthToken",
    "OrgKind",
    "OrgStatus",
    "Organisation",
    "OrganisationSector",
    "OutboxMessage",
    "OutboxStatus",
    "RecoveryCode",
    "SchoolYearSize",
    "TokenPurpose",
    "User",
    "UserStatus",
    "coordinator_areas",
    "utcnow",
]
