"""Every ORM model, importable from one place, so Alembic and every domain see the same tables."""

from herald.models.campaign import Campaign, CampaignRecipient
from herald.models.consent import Consent, Suppression
from herald.models.email import EmailSettings, EmailTemplate, Message, MessageEvent
from herald.models.event import Event, EventKey, Metric
from herald.models.flow import Flow, FlowEnrolment, FlowSettings, FlowStepRun, FlowVersion
from herald.models.idempotency import IdempotencyRecord
from herald.models.job import Job, JobError, JobFile
from herald.models.organization import ApiKey, Organization, User, UserSession
from herald.models.profile import AnonymousId, Profile, ProfileChange
from herald.models.ratelimit import OrganizationRateLimits
from herald.models.segment import Segment, SegmentHistory, SegmentMember
from herald.models.system import PeriodicRun, Process

__all__ = [
    "AnonymousId",
    "ApiKey",
    "Campaign",
    "CampaignRecipient",
    "Consent",
    "EmailSettings",
    "EmailTemplate",
    "Event",
    "EventKey",
    "Flow",
    "FlowEnrolment",
    "FlowSettings",
    "FlowStepRun",
    "FlowVersion",
    "IdempotencyRecord",
    "Job",
    "JobError",
    "JobFile",
    "Message",
    "MessageEvent",
    "Metric",
    "Organization",
    "OrganizationRateLimits",
    "PeriodicRun",
    "Process",
    "Profile",
    "ProfileChange",
    "Segment",
    "SegmentHistory",
    "SegmentMember",
    "Suppression",
    "User",
    "UserSession",
]
