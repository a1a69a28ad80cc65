"""Email sending: MIME building and DKIM, providers (outbox, SMTP), the send task and the API for
transactional email, the outbox and the sending settings."""
