"""RFC 3339 timestamps and `YYYY-MM-DD` dates of the JSON form (CONTRACT.md section 3).

Avro carries timestamps as `timestamp-millis`, so a parsed timestamp is truncated to whole
milliseconds: the domain dict built from JSON then equals the one decoded from Avro.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))?"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 date-time with `Z` or a numeric offset, as an aware UTC datetime.

    Raises ValueError with the reason; a timestamp without offset is refused because its
    instant is unknowable (event-time rules would silently shift by the writer's zone).
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        msg = "not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS[.fff]Z or ±HH:MM offset)"
        raise ValueError(msg)
    if match["z"] is None and match["sign"] is None:
        msg = "timestamp has no time zone offset; add Z or ±HH:MM"
        raise ValueError(msg)
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    micro = int((match[7] or "0")[:6].ljust(6, "0"))
    if match["z"] is not None:
        zone = UTC
    else:
        hours, minutes = int(match["oh"]), int(match["om"])
        if hours > 23 or minutes > 59:
            msg = "time zone offset out of range"
            raise ValueError(msg)
        offset = timedelta(hours=hours, minutes=minutes)
        zone = timezone(-offset if match["sign"] == "-" else offset)
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
        instant = local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        msg = f"not a valid date and time: {exc}"
        raise ValueError(msg) from exc
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with `Z` and millisecond precision, e.g. `2024-05-01T10:00:00.000Z`."""
    if value.tzinfo is None:
        msg = "naive datetime: the domain holds aware UTC timestamps only"
        raise ValueError(msg)
    utc = value.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def is_date(text: str) -> bool:
    """True for a real calendar date written exactly `YYYY-MM-DD`."""
    if _DATE.fullmatch(text) is None:
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
