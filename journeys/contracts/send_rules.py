"""The send policy's pure rules: topic names, quiet hours and frequency caps.

No I/O and no clock of their own (callers pass ``now``), so they are tested exactly. The
policy (journeys/consent/policy.py) applies them; settings validate with them, which is
why they live below both, here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

# Marketing topics a customer can unsubscribe from ("offers", "product"); the names below
# mean something else (all marketing, the transactional category).
TOPIC_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
RESERVED_TOPICS = {"transactional", "all"}

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window of the customer's local time in which marketing mail is held,
    e.g. 21:00-08:00 (it may wrap past midnight). The end is the first minute mail may go."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> "QuietHours":
        match = _HOURS.match(text)
        if not match:
            raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM, e.g. 21:00-08:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"quiet hours {text!r}: hours are 00-23 and minutes 00-59")
        if (h1, m1) == (h2, m2):
            raise ValueError(f"quiet hours {text!r}: start and end are the same time")
        return cls(time(h1, m1), time(h2, m2))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the window that ``now`` falls in ends (aware), or None if ``now`` is outside it.

        Wall-clock based: 08:00 stays 08:00 local across a daylight-saving change.
        """
        local = now.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return None
        end_day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:
            end_day += timedelta(days=1)  # in the evening part of a window that wraps midnight
        return datetime.combine(end_day, self.end).replace(tzinfo=zone)


@dataclass(frozen=True)
class FrequencyCap:
    """At most ``limit`` marketing emails per customer in any rolling ``window``."""

    limit: int
    window: timedelta

    def __str__(self) -> str:
        hours = int(self.window.total_seconds() // 3600)
        span = f"{hours // 24} days" if hours % 24 == 0 and hours > 24 else f"{hours} hours"
        return f"{self.limit} per {span}"


def caps_from(per_24h: int, per_7d: int) -> tuple[FrequencyCap, ...]:
    """The caps the settings ask for; a limit of 0 means that cap is off."""
    caps = [FrequencyCap(per_24h, timedelta(hours=24)), FrequencyCap(per_7d, timedelta(days=7))]
    return tuple(c for c in caps if c.limit > 0)


def capped_until(caps: Iterable[FrequencyCap], sent_at: Iterable[datetime], now: datetime) -> tuple[datetime, FrequencyCap] | None:
    """If one more send now would break a cap: when the next free slot opens, and the cap
    that holds it longest. None if a send is allowed now.

    A send ``window`` ago or earlier no longer counts (the window is rolling).
    """
    times = sorted(sent_at)
    worst: tuple[datetime, FrequencyCap] | None = None
    for cap in caps:
        in_window = [t for t in times if t > now - cap.window]
        if len(in_window) < cap.limit:
            continue
        # The slot opens when enough of the oldest sends have left the window.
        free_at = in_window[len(in_window) - cap.limit] + cap.window
        if worst is None or free_at > worst[0]:
            worst = (free_at, cap)
    return worst
