"""Quiet hours and frequency caps: the pure time rules of the send policy."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from journeys.contracts.send_rules import FrequencyCap, QuietHours, caps_from, capped_until

PARIS = ZoneInfo("Europe/Paris")
NIGHT = QuietHours(time(21, 0), time(8, 0))
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


# --- QuietHours.parse ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("21:00-08:00", time(21, 0), time(8, 0)),
        ("9:30-17:00", time(9, 30), time(17, 0)),
        (" 22:15 - 06:45 ", time(22, 15), time(6, 45)),
    ],
)
def test_parse_reads_start_and_end(text: str, start: time, end: time) -> None:
    assert QuietHours.parse(text) == QuietHours(start, end)


def test_parse_round_trips_through_str() -> None:
    assert str(QuietHours.parse("9:30-17:00")) == "09:30-17:00"


@pytest.mark.parametrize("text", ["", "21-08", "21:00", "21:00-8", "9h00-17h00", "21:00 to 08:00", "ab:cd-ef:gh"])
def test_parse_refuses_bad_format_naming_expected_one(text: str) -> None:
    with pytest.raises(ValueError, match="expected HH:MM-HH:MM"):
        QuietHours.parse(text)


def test_parse_refuses_equal_start_and_end() -> None:
    with pytest.raises(ValueError, match="same time"):
        QuietHours.parse("08:00-08:00")


@pytest.mark.parametrize("text", ["24:00-08:00", "21:00-25:00", "21:60-08:00", "21:00-08:99"])
def test_parse_refuses_out_of_range_hours_and_minutes(text: str) -> None:
    with pytest.raises(ValueError, match="00-23"):
        QuietHours.parse(text)


# --- QuietHours.contains -------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(7, 59), True),
        (time(8, 0), False),
        (time(12, 0), False),
    ],
)
def test_window_wrapping_midnight_contains_evening_and_early_morning(local: time, inside: bool) -> None:
    assert NIGHT.contains(local) is inside


@pytest.mark.parametrize(
    ("local", "inside"),
    [(time(11, 59), False), (time(12, 0), True), (time(13, 59), True), (time(14, 0), False), (time(23, 0), False)],
)
def test_window_within_one_day_contains_only_its_span(local: time, inside: bool) -> None:
    assert QuietHours(time(12, 0), time(14, 0)).contains(local) is inside


# --- QuietHours.ends_after -----------------------------------------------------------


def test_ends_after_is_none_outside_the_window() -> None:
    assert NIGHT.ends_after(datetime(2026, 5, 10, 12, 0, tzinfo=PARIS), PARIS) is None


def test_ends_after_in_the_evening_is_next_morning_local() -> None:
    end = NIGHT.ends_after(datetime(2026, 5, 10, 22, 30, tzinfo=PARIS), PARIS)
    assert end == datetime(2026, 5, 11, 8, 0, tzinfo=PARIS)


def test_ends_after_in_the_early_morning_is_same_morning_local() -> None:
    end = NIGHT.ends_after(datetime(2026, 5, 10, 3, 0, tzinfo=PARIS), PARIS)
    assert end == datetime(2026, 5, 10, 8, 0, tzinfo=PARIS)


def test_ends_after_converts_now_to_the_customer_zone() -> None:
    # 20:30 UTC is 22:30 in Paris (summer time): inside the window, ends 08:00 Paris.
    end = NIGHT.ends_after(datetime(2026, 5, 10, 20, 30, tzinfo=UTC), PARIS)
    assert end == datetime(2026, 5, 11, 6, 0, tzinfo=UTC)


def test_ends_after_keeps_local_wall_time_across_spring_forward() -> None:
    # Paris goes from +01:00 to +02:00 at 02:00 on 2026-03-29.
    now = datetime(2026, 3, 28, 22, 30, tzinfo=PARIS)
    assert now.utcoffset() == timedelta(hours=1)
    end = NIGHT.ends_after(now, PARIS)
    assert end is not None
    assert (end.date(), end.time()) == (datetime(2026, 3, 29).date(), time(8, 0))
    assert end.utcoffset() == timedelta(hours=2)
    assert end.astimezone(UTC) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


def test_ends_after_for_window_within_one_day_is_its_end_that_day() -> None:
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert lunch.ends_after(datetime(2026, 5, 10, 13, 0, tzinfo=PARIS), PARIS) == datetime(
        2026, 5, 10, 14, 0, tzinfo=PARIS
    )
    assert lunch.ends_after(datetime(2026, 5, 10, 14, 0, tzinfo=PARIS), PARIS) is None


# --- caps ----------------------------------------------------------------------------


def test_caps_from_zero_limits_is_no_caps() -> None:
    assert caps_from(0, 0) == ()


def test_caps_from_gives_a_daily_and_a_weekly_cap() -> None:
    assert caps_from(3, 10) == (FrequencyCap(3, DAY), FrequencyCap(10, WEEK))


def test_caps_from_leaves_out_a_zero_limit() -> None:
    assert caps_from(0, 10) == (FrequencyCap(10, WEEK),)


@pytest.mark.parametrize(
    ("cap", "text"),
    [(FrequencyCap(3, DAY), "3 per 24 hours"), (FrequencyCap(10, WEEK), "10 per 7 days"), (FrequencyCap(1, timedelta(hours=6)), "1 per 6 hours")],
)
def test_frequency_cap_reads_as_limit_per_span(cap: FrequencyCap, text: str) -> None:
    assert str(cap) == text


def test_capped_until_is_none_under_the_limit() -> None:
    sent = [NOW - timedelta(hours=1), NOW - timedelta(hours=2)]
    assert capped_until([FrequencyCap(3, DAY)], sent, NOW) is None


def test_capped_until_is_none_without_caps() -> None:
    assert capped_until([], [NOW] * 5, NOW) is None


def test_capped_until_at_the_limit_frees_when_oldest_in_window_send_leaves() -> None:
    cap = FrequencyCap(3, DAY)
    sent = [NOW - timedelta(hours=1), NOW - timedelta(hours=10), NOW - timedelta(hours=5)]  # any order
    assert capped_until([cap], sent, NOW) == (NOW - timedelta(hours=10) + DAY, cap)


def test_capped_until_over_the_limit_waits_for_enough_sends_to_leave() -> None:
    cap = FrequencyCap(2, DAY)
    sent = [NOW - timedelta(hours=h) for h in (1, 2, 3, 4)]
    # Four in the window, limit two: three must leave, the third oldest leaves at -2h + 24h.
    assert capped_until([cap], sent, NOW) == (NOW - timedelta(hours=2) + DAY, cap)


def test_send_exactly_one_window_ago_no_longer_counts() -> None:
    cap = FrequencyCap(2, DAY)
    assert capped_until([cap], [NOW - DAY, NOW - timedelta(hours=1)], NOW) is None
    assert capped_until([cap], [NOW - DAY + timedelta(seconds=1), NOW - timedelta(hours=1)], NOW) is not None


def test_sends_older_than_the_window_are_ignored() -> None:
    cap = FrequencyCap(2, DAY)
    old = [NOW - timedelta(days=2), NOW - timedelta(days=3), NOW - timedelta(days=30)]
    assert capped_until([cap], [*old, NOW - timedelta(hours=1)], NOW) is None


def test_with_two_caps_the_later_free_slot_wins() -> None:
    daily, weekly = FrequencyCap(3, DAY), FrequencyCap(4, WEEK)
    sent = [NOW - timedelta(days=3), NOW - timedelta(hours=3), NOW - timedelta(hours=2), NOW - timedelta(hours=1)]
    # Daily frees at -3h + 24h; weekly frees at -3d + 7d, which is later.
    expected = (NOW - timedelta(days=3) + WEEK, weekly)
    assert capped_until([daily, weekly], sent, NOW) == expected
    assert capped_until([weekly, daily], sent, NOW) == expected


def test_with_two_caps_only_the_one_reached_holds() -> None:
    daily, weekly = FrequencyCap(3, DAY), FrequencyCap(10, WEEK)
    sent = [NOW - timedelta(hours=h) for h in (1, 2, 3)]
    assert capped_until([daily, weekly], sent, NOW) == (NOW - timedelta(hours=3) + DAY, daily)
