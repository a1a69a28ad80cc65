"""Field checks shared across domains."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_email(value: str) -> str:
    """Validate an address and return it with the domain lowercased, as stored and compared."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return result.normalized.lower()
