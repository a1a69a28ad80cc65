"""SMS: Twilio, keywords, delivery reports, quiet hours and limits (docs/sms.md)."""
