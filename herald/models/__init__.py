"""Every ORM model, importable from one place, so Alembic and every domain see the same tables."""

from herald.models.analytics import (
    AnalyticsDirtyHour,
    AnalyticsSettings,
    DeliveryHour,
    EventHour,
    MessageHour,
)
from herald.models.campaign import Campaign, CampaignRecipient
from herald.models.consent import Consent, ConsentRecord, Suppression
from herald.models.email import (
    EmailSettings,
    EmailTemplate,
    Message,
    MessageEvent,
    MessageHandoff,
)
from herald.models.email_provider import EmailProviderEntry, SendingPause
from herald.models.event import Event, EventKey, Metric
from herald.models.flow import Flow, FlowEnrolment, FlowSettings, FlowStepRun, FlowVersion
from herald.models.idempotency import IdempotencyRecord
from herald.models.image import Image, TemplateBlock
from herald.models.job import Job, JobError, JobFile
from herald.models.organization import ApiKey, Organization, User, UserSession
from herald.models.profile import AnonymousId, Profile, ProfileChange
from herald.models.ratelimit import OrganizationRateLimits
from herald.models.retention import RetainedConversion, RetentionSettings
from herald.models.segment import Segment, SegmentHistory, SegmentMember
from herald.models.sms import InboundSms, SmsSettings, SmsTemplate
from herald.models.system import PeriodicRun, Process

__all__ = [
    "AnalyticsDirtyHour",
    "AnalyticsSettings",
    "AnonymousId",
    "ApiKey",
    "Campaign",
    "CampaignRecipient",
    "Consent",
    "ConsentRecord",
    "DeliveryHour",
    "EmailProviderEntry",
    "EmailSettings",
    "EmailTemplate",
    "Event",
    "EventHour",
    "EventKey",
    "Flow",
    "FlowEnrolment",
    "FlowSettings",
    "FlowStepRun",
    "FlowVersion",
    "IdempotencyRecord",
    "Image",
    "InboundSms",
    "Job",
    "JobError",
    "JobFile",
    "Message",
    "MessageEvent",
    "MessageHandoff",
    "MessageHour",
    "Metric",
    "Organization",
    "OrganizationRateLimits",
    "PeriodicRun",
    "Process",
    "Profile",
    "ProfileChange",
    "RetainedConversion",
    "RetentionSettings",
    "Segment",
    "SegmentHistory",
    "SegmentMember",
    "SendingPause",
    "SmsSettings",
    "SmsTemplate",
    "Suppression",
    "TemplateBlock",
    "User",
    "UserSession",
]
