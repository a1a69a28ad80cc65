"""The words of a campaign's life and its recipients', shared by the campaign modules."""

from __future__ import annotations

# Campaign statuses.
DRAFT, SCHEDULED, SENDING, SENT = "draft", "scheduled", "sending", "sent"
PAUSED, CANCELLED = "paused", "cancelled"
STATUSES = (DRAFT, SCHEDULED, SENDING, SENT, PAUSED, CANCELLED)

# Recipient statuses: waiting (outside an A/B test's pool, for the winner), pending (no message
# yet), queued (its message exists and is not final), then the message's final status (sent,
# delivered, bounced, complained, failed, suppressed, skipped); skipped at the snapshot with a
# `skip_reason`; cancelled.
WAITING, PENDING, QUEUED = "waiting", "pending", "queued"
SKIPPED, RECIPIENT_CANCELLED = "skipped", "cancelled"
OPEN_RECIPIENT_STATUSES = (WAITING, PENDING, QUEUED)

# Why the fan-out skipped a recipient whose profile was merged into another recipient's person
# after the snapshot (that person gets one message).
MERGED = "merged"
# Why the snapshot left a profile out.
NO_EMAIL, NO_PHONE, SUPPRESSED, NO_CONSENT, SMART_SENDING = (
    "no_email",
    "no_phone",
    "suppressed",
    "no_consent",
    "smart_sending",
)
# Why the audience count leaves out a profile that never becomes a recipient: it is in an
# excluded segment.
EXCLUDED_SEGMENT = "excluded_segment"
