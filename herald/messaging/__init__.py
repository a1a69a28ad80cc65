"""Messaging: the ledger of outgoing messages, what happened to them, suppression, tracking and
unsubscribe. Channel-specific sending lives in herald/email (and later herald/sms)."""
