# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Blackout windows and freezes (plugins/module_utils/_window.py): midnight, time zones, weekdays, DST, freeze
boundaries, overrides and bad input."""
from __future__ import annotations

import datetime
import zoneinfo

import pytest
from ansible_collections.progressive.delivery.plugins.module_utils._window import (
    Calendar,
    WindowError,
    decide,
    override_of,
    parse_freezes,
    parse_now,
    parse_windows,
    wall_to_utc,
)

NIGHT = {"name": "night", "start": "22:00", "end": "08:00", "timezone": "Asia/Seoul"}
YEAR_END = {"name": "year-end", "start": "2026-12-24T00:00+09:00", "end": "2027-01-02T00:00+09:00",
            "reason": "year-end sales"}


def calendar(windows=(), freezes=()) -> Calendar:
    return Calendar(tuple(parse_windows(list(windows))), tuple(parse_freezes(list(freezes))))


def at(text: str, windows=(), freezes=(), override: str | None = None) -> dict:
    return decide(calendar(windows, freezes), parse_now(text), override)


def blocked(text: str, windows=(), freezes=()) -> bool:
    return at(text, windows, freezes)["blocked"]


# --------------------------------------------------------------------------------------------------
# windows crossing midnight, in their time zone
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("moment", "held"), [
    ("2026-11-21T21:59:59+09:00", False),
    ("2026-11-21T22:00+09:00", True),     # the start is inclusive
    ("2026-11-21T23:30+09:00", True),
    ("2026-11-22T00:00+09:00", True),     # past midnight: the occurrence that started yesterday
    ("2026-11-22T07:59:59+09:00", True),
    ("2026-11-22T08:00+09:00", False),    # the end is exclusive
    ("2026-11-22T12:00+09:00", False),
])
def test_a_window_crossing_midnight(moment, held):
    assert blocked(moment, [NIGHT]) is held


def test_the_window_is_in_its_own_time_zone_whatever_the_offset_of_now():
    # 14:30 UTC is 23:30 in Seoul and Tokyo, 14:30 in London
    assert blocked("2026-11-21T14:30Z", [NIGHT])
    assert blocked("2026-11-21T14:30Z", [{**NIGHT, "timezone": "Asia/Tokyo"}])
    assert not blocked("2026-11-21T14:30Z", [{**NIGHT, "timezone": "Europe/London"}])
    assert blocked("2026-11-21T06:30-08:00", [NIGHT])  # the same instant written in Los Angeles time


def test_the_refusal_names_the_window_its_end_in_both_zones_and_the_override():
    decision = at("2026-11-21T23:30+09:00", [NIGHT])
    assert decision["allowed"] is False and decision["overridden"] is False and decision["override"] is None
    msg = decision["msg"]
    assert "blackout window 'night' (22:00-08:00 Asia/Seoul, every day)" in msg
    assert "until 2026-11-22 08:00 KST (Asia/Seoul, +09:00) = 2026-11-21 23:00 UTC" in msg
    assert "delivery_window_override_reason" in msg
    [block] = decision["active"]
    assert block["kind"] == "window" and block["name"] == "night"
    assert block["start"] == "2026-11-21T22:00:00+09:00" and block["end"] == "2026-11-22T08:00:00+09:00"
    assert block["end_utc"] == "2026-11-21T23:00:00Z"
    assert decision["open_at_utc"] == "2026-11-21T23:00:00Z"


def test_a_window_within_one_day_and_a_whole_day():
    lunch = {"start": "12:00", "end": "13:00", "timezone": "UTC"}
    assert blocked("2026-11-21T12:30Z", [lunch]) and not blocked("2026-11-21T13:00Z", [lunch])
    assert not blocked("2026-11-21T11:59Z", [lunch])
    assert at("2026-11-21T12:30Z", [lunch])["active"][0]["name"] == "12:00-13:00 UTC"  # the default name
    whole = {"start": "00:00", "end": "24:00", "timezone": "UTC", "weekdays": ["sat", "sun"]}
    decision = at("2026-11-21T10:00Z", [whole])  # a Saturday: held to Monday 00:00, through Sunday
    assert decision["blocked"] and decision["open_at_utc"] == "2026-11-23T00:00:00Z"
    assert "allowed again from 2026-11-23 00:00 UTC" in decision["msg"]
    assert not blocked("2026-11-20T23:59Z", [whole])


def test_a_calendar_that_never_opens_says_so():
    always = {"start": "00:00", "end": "24:00", "timezone": "UTC"}
    decision = at("2026-11-21T10:00Z", [always])
    assert decision["allowed"] is False and decision["open_at"] is None and "stay held" in decision["msg"]


# --------------------------------------------------------------------------------------------------
# weekdays: the days a window starts on
# --------------------------------------------------------------------------------------------------
FRIDAY_NIGHT = {**NIGHT, "weekdays": ["fri"]}


@pytest.mark.parametrize(("moment", "held"), [
    ("2026-11-20T23:00+09:00", True),    # Friday night
    ("2026-11-21T03:00+09:00", True),    # Saturday morning: the window started on Friday
    ("2026-11-21T23:00+09:00", False),   # Saturday night: no window starts on Saturday
    ("2026-11-19T23:00+09:00", False),   # Thursday night
    ("2026-11-20T03:00+09:00", False),   # Friday morning: it would have started on Thursday
])
def test_weekdays_are_the_days_the_window_starts_on(moment, held):
    assert blocked(moment, [FRIDAY_NIGHT]) is held


def test_weekday_ranges_full_names_and_wrapping():
    weekend = {"start": "00:00", "end": "24:00", "timezone": "UTC", "weekdays": ["fri-mon"]}
    days = [datetime.date(2026, 11, 16) + datetime.timedelta(days=n) for n in range(7)]  # Mon 16 .. Sun 22
    assert [blocked(f"{day}T12:00Z", [weekend]) for day in days] == [True, False, False, False, True, True, True]
    workdays = {"start": "09:00", "end": "10:00", "timezone": "UTC", "weekdays": ["Monday", "tue-fri"]}
    assert [blocked(f"{day}T09:30Z", [workdays]) for day in days] == [True] * 5 + [False] * 2
    assert "mon, tue, wed, thu, fri" in at("2026-11-16T09:30Z", [workdays])["msg"]


# --------------------------------------------------------------------------------------------------
# clock changes
# --------------------------------------------------------------------------------------------------
def test_dst_does_not_move_a_night_window_by_an_hour():
    # Europe/Berlin goes to summer time on 2026-03-29 at 02:00 -> 03:00: the window ends at 08:00 CEST = 06:00 UTC
    berlin = {**NIGHT, "timezone": "Europe/Berlin"}
    assert blocked("2026-03-28T21:00Z", [berlin])        # 22:00 CET
    assert blocked("2026-03-29T05:30Z", [berlin])        # 07:30 CEST (a fixed +01:00 would say 06:30, open)
    assert not blocked("2026-03-29T06:00Z", [berlin])    # 08:00 CEST
    assert blocked("2026-10-24T20:00Z", [berlin])        # 22:00 CEST, the night before winter time
    assert blocked("2026-10-25T06:30Z", [berlin])        # 07:30 CET
    assert not blocked("2026-10-25T07:00Z", [berlin])    # 08:00 CET


def test_a_bound_that_does_not_exist_is_the_moment_of_the_change():
    # New York springs forward on 2026-03-08 at 02:00 EST -> 03:00 EDT (07:00 UTC); 02:30 does not exist
    zone = zoneinfo.ZoneInfo("America/New_York")
    start = wall_to_utc(datetime.datetime(2026, 3, 8, 2, 30), zone)
    assert start == datetime.datetime(2026, 3, 8, 7, 0, tzinfo=datetime.timezone.utc)  # noqa: UP017
    window = {"start": "02:30", "end": "03:30", "timezone": "America/New_York"}
    assert not blocked("2026-03-08T06:59:59Z", [window])
    assert blocked("2026-03-08T07:00Z", [window]) and not blocked("2026-03-08T07:30Z", [window])


def test_a_bound_that_occurs_twice_never_shortens_the_window():
    # New York falls back on 2026-11-01 at 02:00 EDT -> 01:00 EST: 01:00-01:30 happens twice
    window = {"start": "01:00", "end": "01:30", "timezone": "America/New_York"}
    assert not blocked("2026-11-01T04:59Z", [window])
    assert blocked("2026-11-01T05:00Z", [window])      # 01:00 EDT, the first 01:00
    assert blocked("2026-11-01T06:15Z", [window])      # 01:15 EST, the second pass
    assert not blocked("2026-11-01T06:30Z", [window])  # 01:30 EST, the second 01:30


# --------------------------------------------------------------------------------------------------
# freezes
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("moment", "held"), [
    ("2026-12-23T23:59:59+09:00", False),
    ("2026-12-24T00:00+09:00", True),      # start inclusive
    ("2026-12-23T15:00Z", True),           # the same instant in UTC
    ("2027-01-01T14:59:59Z", True),
    ("2027-01-02T00:00+09:00", False),     # end exclusive
])
def test_freeze_boundaries(moment, held):
    assert blocked(moment, freezes=[YEAR_END]) is held


def test_a_freeze_refusal_names_it_its_reason_and_its_end():
    decision = at("2026-12-31T12:00+09:00", freezes=[YEAR_END])
    assert decision["allowed"] is False
    assert "freeze 'year-end'" in decision["msg"] and "(year-end sales)" in decision["msg"]
    assert "until 2027-01-02 00:00 +09:00 = 2027-01-01 15:00 UTC" in decision["msg"]
    assert decision["active"][0]["kind"] == "freeze" and decision["active"][0]["timezone"] == "+09:00"


def test_a_freeze_then_a_night_window_opens_when_both_are_over():
    decision = at("2027-01-01T23:00+09:00", [NIGHT], [YEAR_END])
    assert [block["name"] for block in decision["active"]] == ["year-end", "night"]
    assert decision["open_at_utc"] == "2027-01-01T23:00:00Z"  # 08:00 Seoul on 2 January, after the freeze
    assert "allowed again from 2027-01-02 08:00 KST" in decision["msg"]


def test_freezes_accept_yaml_datetimes_with_an_offset():
    tz = datetime.timezone(datetime.timedelta(hours=9))
    freeze = {"name": "f", "start": datetime.datetime(2026, 12, 24, tzinfo=tz),
              "end": datetime.datetime(2027, 1, 2, tzinfo=tz)}
    assert blocked("2026-12-25T00:00Z", freezes=[freeze])


# --------------------------------------------------------------------------------------------------
# overrides
# --------------------------------------------------------------------------------------------------
def test_an_override_with_a_reason_lets_a_blocked_deploy_through_and_says_what_it_overrode():
    decision = at("2026-11-21T23:30+09:00", [NIGHT], override="hotfix INC-1234")
    assert decision["allowed"] is True and decision["blocked"] is True and decision["overridden"] is True
    assert decision["override"]["reason"] == "hotfix INC-1234"
    assert [block["name"] for block in decision["override"]["windows"]] == ["night"]
    assert "overridden: hotfix INC-1234" in decision["msg"]


def test_an_override_outside_any_window_is_not_recorded():
    decision = at("2026-11-21T12:00+09:00", [NIGHT], override="hotfix")
    assert decision["allowed"] is True and decision["overridden"] is False and decision["override"] is None
    assert "not needed" in decision["msg"]


@pytest.mark.parametrize("flag", [True, "true", "yes"])
def test_the_override_flag_alone_is_refused(flag):
    with pytest.raises(WindowError, match=r"delivery_window_override=true alone is refused.*"
                                          r"delivery_window_override_reason"):
        override_of("  ", flag)
    assert override_of(" why ", flag) == "why"
    assert override_of(None, False) is None and override_of("", "false") is None


def test_the_override_reason_must_be_text():
    with pytest.raises(WindowError, match="delivery_window_override_reason must be a string"):
        override_of(["why"], False)


# --------------------------------------------------------------------------------------------------
# bad input names the variable, the entry and the shape
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("windows", "message"), [
    ({"start": "22:00"}, r"delivery_blackout_windows must be a list of \{name: night"),
    ("22:00-08:00", "delivery_blackout_windows must be a list"),
    (["22:00-08:00 Asia/Seoul"], r"delivery_blackout_windows\[0\] must be a dictionary"),
    ([{**NIGHT, "tz": "UTC"}], r"delivery_blackout_windows\[0\]: unknown key\(s\) tz; allowed: name, start"),
    ([{"start": "22:00", "end": "08:00"}], r"delivery_blackout_windows\[0\]\.timezone is required"),
    ([NIGHT, {**NIGHT, "timezone": "Asia/Seol"}], r"\[1\]\.timezone: unknown time zone 'Asia/Seol'"),
    ([{**NIGHT, "start": 1320}], r"start must be a time of day 'HH:MM'.*unquoted 22:00.*start: '22:00'"),
    ([{**NIGHT, "end": "25:00"}], r"end must be a time of day 'HH:MM' from 00:00 to 24:00, got '25:00'"),
    ([{**NIGHT, "end": "24:30"}], r"end must be a time of day"),
    ([{**NIGHT, "start": "8pm"}], r"start must be a time of day"),
    ([{**NIGHT, "start": "24:00"}], r"24:00 is only an end"),
    ([{**NIGHT, "end": "22:00"}], r"a window of no length; for the whole day use start: '00:00', end: '24:00'"),
    ([{**NIGHT, "weekdays": ["fri", "someday"]}], r"weekdays: unknown day 'someday'"),
    ([{**NIGHT, "weekdays": []}], r"weekdays must be a list of days"),
    ([{**NIGHT, "weekdays": [5]}], r"weekdays: 5 is not a day name"),
])
def test_bad_windows(windows, message):
    with pytest.raises(WindowError, match=message):
        parse_windows(windows)


@pytest.mark.parametrize(("freezes", "message"), [
    ([{**YEAR_END, "name": ""}], r"delivery_freezes\[0\]\.name is required \(\{name: year-end"),
    ([{**YEAR_END, "start": "2026-12-24T00:00"}], r"\[0\]\.start must be an RFC 3339 date and time with an"
                                                  r" offset.*got '2026-12-24T00:00'"),
    ([{**YEAR_END, "end": "next year"}], r"\[0\]\.end must be an RFC 3339"),
    ([{**YEAR_END, "end": datetime.date(2027, 1, 2)}], r"\[0\]\.end must be an RFC 3339"),
    ([{**YEAR_END, "end": "2026-12-24T00:00+09:00"}], r"\[0\]: end 2026-12-24T00:00\+09:00 is not after start"),
    ([{**YEAR_END, "until": "x"}], r"unknown key\(s\) until; allowed: name, start, end, reason"),
])
def test_bad_freezes(freezes, message):
    with pytest.raises(WindowError, match=message):
        parse_freezes(freezes)


def test_the_variable_name_is_the_one_given():
    with pytest.raises(WindowError, match=r"preflight_freezes\[0\]"):
        parse_freezes([{"name": "x"}], "preflight_freezes")


def test_nothing_configured_is_allowed():
    for empty in (None, "", []):
        assert parse_windows(empty) == [] and parse_freezes(empty) == []
    decision = at("2026-11-21T23:30+09:00")
    assert decision["allowed"] is True and decision["blocked"] is False and decision["active"] == []
    assert decision["msg"] == "no blackout windows or freezes configured"


def test_now_needs_an_offset():
    with pytest.raises(WindowError, match="now must be an RFC 3339"):
        parse_now("2026-11-21T23:30")
    assert parse_now(None).tzinfo is not None
