"""Wall-clock arithmetic in the customer's time zone, on workflow time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def next_local_time(now: datetime, zone_name: str | None, hour: int, minute: int = 0) -> datetime:
    """The next hour:minute after ``now`` on the wall clock of ``zone_name`` (aware).

    Across a daylight-saving change the local time is kept (09:00 stays 09:00).
    """
    zone = ZoneInfo(zone_name or "UTC")
    local_now = now.astimezone(zone)
    candidate = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local_now:
        candidate = (local_now + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    # Re-localise: the +1 day may cross a DST change, and replace() keeps the old offset.
    naive = candidate.replace(tzinfo=None)
    return naive.replace(tzinfo=zone)
