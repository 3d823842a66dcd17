"""All models, imported here so metadata is complete for migrations and create_all()."""
from portal.models.areas import Area
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.matches import HOLDS_CAPACITY, LIVE, Match, MatchEvent, MatchOrigin, MatchStatus
from portal.models.offers import Offer, OfferStatus
from portal.models.organisations import Organisation, OrganisationSector, OrgKind, OrgStatus, SchoolYearSize
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.pupils import (
    DESTINATION_LABELS,
    Destination,
    Pupil,
    PupilStatus,
    PupilYearCount,
    RosterMapping,
    RosterUpload,
)
from portal.models.registers import RegisterEntry, SessionRecord
from portal.models.reports import ReportNote
from portal.models.school_requests import PRIORITY_LABELS, PriorityCohort, RequestStatus, SchoolRequest
from portal.models.users import AuthToken, RecoveryCode, TokenPurpose, User, UserStatus, coordinator_areas

__all__ = [
    "DESTINATION_LABELS",
    "HOLDS_CAPACITY",
    "LIVE",
    "PRIORITY_LABELS",
    "Area",
    "AuditEvent",
    "AuthToken",
    "Destination",
    "Match",
    "MatchEvent",
    "MatchOrigin",
    "MatchStatus",
    "Offer",
    "OfferStatus",
    "OrgKind",
    "OrgStatus",
    "Organisation",
    "OrganisationSector",
    "OutboxMessage",
    "OutboxStatus",
    "PriorityCohort",
    "Pupil",
    "PupilStatus",
    "PupilYearCount",
    "RecoveryCode",
    "RegisterEntry",
    "ReportNote",
    "RequestStatus",
    "RosterMapping",
    "RosterUpload",
    "SchoolRequest",
    "SchoolYearSize",
    "SessionRecord",
    "TokenPurpose",
    "User",
    "UserStatus",
    "coordinator_areas",
    "utcnow",
]
