"""All models, imported here so metadata is complete for migrations and create_all()."""
from portal.models.areas import Area
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.internships import (
    FOLLOW_UP_MONTHS,
    PLACEMENT_WEEKS,
    FollowUp,
    FollowUpStatus,
    Intern,
    InternshipProgramme,
    Placement,
    PlacementFeedback,
    PlacementStatus,
    ProgrammeStatus,
)
from portal.models.jobs import Job, JobStatus
from portal.models.kits import KitRequest, KitRequestStatus
from portal.models.levy import (
    APPLICATION_EXPIRY_MONTHS,
    DEFAULT_PLEDGE_DELAY_DAYS,
    LEVY_EXPIRY_MONTHS,
    PLEDGE_SHARE_OF_LAST_YEAR,
    ApplicationStatus,
    LevyEntry,
    LevySpend,
    Pledge,
    PledgeApplication,
    PledgeStatus,
)
from portal.models.matches import HOLDS_CAPACITY, LIVE, Match, MatchEvent, MatchOrigin, MatchStatus
from portal.models.offers import Offer, OfferStatus
from portal.models.organisations import Organisation, OrganisationSector, OrgKind, OrgStatus, SchoolYearSize
from portal.models.outbox import OutboxMessage, OutboxStatus
from portal.models.progress_totals import SchoolTotal, SchoolYearTotal
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
    "APPLICATION_EXPIRY_MONTHS",
    "DEFAULT_PLEDGE_DELAY_DAYS",
    "DESTINATION_LABELS",
    "FOLLOW_UP_MONTHS",
    "HOLDS_CAPACITY",
    "LEVY_EXPIRY_MONTHS",
    "LIVE",
    "PLACEMENT_WEEKS",
    "PLEDGE_SHARE_OF_LAST_YEAR",
    "PRIORITY_LABELS",
    "ApplicationStatus",
    "Area",
    "AuditEvent",
    "AuthToken",
    "Destination",
    "FollowUp",
    "FollowUpStatus",
    "Intern",
    "InternshipProgramme",
    "Job",
    "JobStatus",
    "KitRequest",
    "KitRequestStatus",
    "LevyEntry",
    "LevySpend",
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
    "Placement",
    "PlacementFeedback",
    "PlacementStatus",
    "Pledge",
    "PledgeApplication",
    "PledgeStatus",
    "PriorityCohort",
    "ProgrammeStatus",
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
    "SchoolTotal",
    "SchoolYearSize",
    "SchoolYearTotal",
    "SessionRecord",
    "TokenPurpose",
    "User",
    "UserStatus",
    "coordinator_areas",
    "utcnow",
]
