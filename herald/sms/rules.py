"""Sending rules for SMS: quiet hours in the recipient's local time, and rate limits shared by
every worker (the `limits` library on the same storage as the API's limits: Redis in
production, memory embedded)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from limits import RateLimitItemPerDay, RateLimitItemPerSecond
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from phonenumbers import timezone as phone_timezones

from herald import ratelimit
from herald.models import Organization, Profile, SmsSettings

UTC = ZoneInfo("UTC")
# The longest a send waits in place for a per-second slot before it tries again anyway.
MAX_WAIT_SECONDS = 1.0


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def number_zone(number: str) -> ZoneInfo | None:
    """The time zone a number implies, when it implies exactly one (a US area code does; a
    mobile number in a country with several zones may not)."""
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return None
    known = [z for z in zones if z != "Etc/Unknown"]
    return _zone(known[0]) if len(known) == 1 else None


def recipient_zone(profile: Profile | None, number: str, organization: Organization) -> ZoneInfo:
    """The profile's time zone, else the one the number implies, else the organization's."""
    return (
        (_zone(profile.timezone) if profile is not None else None)
        or number_zone(number)
        or _zone(organization.timezone)
        or UTC
    )


def quiet_until(now: datetime, zone: ZoneInfo, start: int, end: int) -> datetime | None:
    """When quiet hours (from `start` o'clock to `end` o'clock local time) end, if `now` is in
    them; else None."""
    local = now.astimezone(zone)
    hour = local.hour
    quiet = (hour >= start or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return None
    morning = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning = (local + timedelta(days=1)).replace(hour=end, minute=0, second=0, microsecond=0)
    # Through UTC so that a day with a daylight-saving change still lands on `end` o'clock.
    return morning.astimezone(UTC)


def quiet_hours_end(
    settings: SmsSettings, profile: Profile | None, number: str, organization: Organization
) -> datetime | None:
    if not settings.quiet_hours:
        return None
    zone = recipient_zone(profile, number, organization)
    return quiet_until(datetime.now(UTC), zone, settings.quiet_start, settings.quiet_end)


# --- Rate limits --------------------------------------------------------------------------------


def _moving() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(ratelimit.backend().storage)


def _fixed() -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(ratelimit.backend().storage)


def take_daily(settings: SmsSettings) -> datetime | None:
    """Count one message against the organization's daily limit; None when it fits, else when
    the day's window resets (the message waits until then)."""
    if not settings.per_day:
        return None
    item = RateLimitItemPerDay(settings.per_day)
    identity = ("sms-day", str(settings.org_id))
    limiter = _fixed()
    if limiter.hit(item, *identity):
        return None
    reset_at, _remaining = limiter.get_window_stats(item, *identity)
    return datetime.fromtimestamp(reset_at, UTC)


def wait_for_slot(org_id: uuid.UUID, sender: str | None, settings: SmsSettings) -> None:
    """Block until the organization's per-second limit and the sender number's have room for
    one more message, and count it. A throttled message waits; it never fails."""
    items: list[tuple[RateLimitItemPerSecond, tuple[str, ...]]] = []
    if settings.per_second:
        items.append((RateLimitItemPerSecond(settings.per_second), ("sms-org", str(org_id))))
    if settings.per_number_per_second and sender:
        items.append(
            (
                RateLimitItemPerSecond(settings.per_number_per_second),
                ("sms-number", str(org_id), sender),
            )
        )
    if not items:
        return
    limiter = _moving()
    for item, identity in items:
        while not limiter.hit(item, *identity):
            reset_at, _remaining = limiter.get_window_stats(item, *identity)
            time.sleep(min(MAX_WAIT_SECONDS, max(0.001, reset_at - time.time())))
