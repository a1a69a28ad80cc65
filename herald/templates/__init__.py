"""Email templates: saving, checking, MJML compilation and personalization."""
