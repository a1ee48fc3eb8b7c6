# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for the release version filters and test (plugins/filter/release_version.py, plugins/test/)."""
from __future__ import annotations

import datetime
import random

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.progressive.delivery.plugins.filter.release_version import (
    FilterModule,
    release_version,
    release_version_bump,
    release_version_compare,
)
from ansible_collections.progressive.delivery.plugins.test.release_version import TestModule as ReleaseVersionTests

RULE = "does not follow the version rule YYYY.MM.minor+build (e.g. 2026.11.3+92)"


# --- parse ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "parts"), [
    ("2026.11.3+92", (2026, 11, 3, 92)),
    ("2025.08.3+92", (2025, 8, 3, 92)),
    ("2000.01.0+0", (2000, 1, 0, 0)),
    ("2999.12.10+123456789012", (2999, 12, 10, 123456789012)),
])
def test_parse_gives_the_parts_and_the_text(text, parts):
    year, month, minor, build = parts
    assert release_version(text) == {"year": year, "month": month, "minor": minor, "build": build, "text": text}


@pytest.mark.parametrize(("value", "why"), [
    ("2026.11.3", "the +build part is missing"),
    ("2026.11.3+", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("2026.11+92", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("2026.11.3.1+92", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("v2026.11.3+92", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    (" 2026.11.3+92", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("2026.11.3+92\n", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("2026.11.3+92-rc1", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("2026.11.-3+92", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("2026.11.\u0663+92", "expected four unsigned numbers in the form YYYY.MM.minor+build"),  # ARABIC-INDIC THREE
    ("", "expected four unsigned numbers in the form YYYY.MM.minor+build"),
    ("26.11.3+92", "YYYY must be a four-digit year 2000-2999"),
    ("1999.11.3+92", "YYYY must be a four-digit year 2000-2999"),
    ("3000.01.0+1", "YYYY must be a four-digit year 2000-2999"),
    ("02026.11.3+92", "YYYY must be a four-digit year 2000-2999"),
    ("2026.1.3+92", "MM must be two digits 01-12"),
    ("2026.011.3+92", "MM must be two digits 01-12"),
    ("2026.00.3+92", "MM must be two digits 01-12"),
    ("2026.13.3+92", "MM must be two digits 01-12"),
    ("2026.11.03+92", "minor must not have leading zeros"),
    ("2026.11.00+92", "minor must not have leading zeros"),
    ("2026.11.3+092", "build must not have leading zeros"),
])
def test_parse_rejects_what_breaks_the_rule_and_says_why(value, why):
    with pytest.raises(AnsibleFilterError) as err:
        release_version(value)
    assert str(err.value) == f"release_version: {value!r} {RULE}: {why}"


@pytest.mark.parametrize(("value", "shown"), [
    (2026, "int 2026"),
    (2026.11, "float 2026.11"),
    (None, "NoneType None"),
    (["2026.11.3+92"], "list ['2026.11.3+92']"),
])
def test_parse_rejects_values_that_are_not_strings(value, shown):
    with pytest.raises(AnsibleFilterError) as err:
        release_version(value)
    assert str(err.value) == ("release_version: a release version must be a string YYYY.MM.minor+build "
                              f"(e.g. 2026.11.3+92), got {shown}")


def test_a_huge_bad_value_is_shortened_in_the_message():
    with pytest.raises(AnsibleFilterError) as err:
        release_version("x" * 1000)
    message = str(err.value)
    assert len(message) < 250
    assert message.startswith("release_version: 'xxxx") and "x... does not follow" in message


# --- compare -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("older", "newer"), [
    ("2026.11.3+92", "2026.11.3+100"),  # builds compare as numbers, not as text
    ("2026.11.3+9", "2026.11.3+10"),
    ("2026.11.9+500", "2026.11.10+1"),  # minor as a number, and before build
    ("2026.09.9+500", "2026.10.0+1"),  # month before minor
    ("2026.12.9+500", "2027.01.0+1"),  # year before month
    ("2025.08.3+92", "2025.08.4+113"),  # the hotfix of the release process example
])
def test_compare_orders_by_year_month_minor_build_numerically(older, newer):
    assert release_version_compare(older, newer) == -1
    assert release_version_compare(newer, older) == 1
    assert release_version_compare(older, older) == 0
    assert release_version_compare(newer, newer) == 0


def test_compare_sorts_like_the_parts():
    versions = ["2026.11.3+100", "2026.11.3+92", "2026.02.0+5", "2026.11.10+1", "2027.01.0+0", "2026.11.9+500"]
    expected = ["2026.02.0+5", "2026.11.3+92", "2026.11.3+100", "2026.11.9+500", "2026.11.10+1", "2027.01.0+0"]
    shuffled = versions[:]
    random.Random(7).shuffle(shuffled)
    ordered = []
    for v in shuffled:  # insertion sort through the filter only
        i = 0
        while i < len(ordered) and release_version_compare(ordered[i], v) < 0:
            i += 1
        ordered.insert(i, v)
    assert ordered == expected


def test_compare_names_which_side_is_malformed():
    with pytest.raises(AnsibleFilterError) as err:
        release_version_compare("2026.11.3+92", "2026.11.3")
    assert str(err.value) == f"release_version_compare: other: '2026.11.3' {RULE}: the +build part is missing"
    with pytest.raises(AnsibleFilterError) as err:
        release_version_compare("2026.1.3+92", "2026.11.3+92")
    assert str(err.value) == f"release_version_compare: '2026.1.3+92' {RULE}: MM must be two digits 01-12"


# --- bump ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "kwargs", "expected"), [
    ("2026.11.3+92", {}, "2026.11.4+93"),
    ("2026.11.3+92", {"part": "minor"}, "2026.11.4+93"),
    ("2026.11.9+92", {"part": "minor"}, "2026.11.10+93"),
    ("2026.11.3+92", {"part": "build"}, "2026.11.3+93"),
    ("2026.11.3+92", {"part": "month"}, "2026.12.0+93"),
    ("2026.12.7+92", {"part": "month"}, "2027.01.0+93"),
    ("2026.11.3+92", {"build": 113}, "2026.11.4+113"),
    ("2026.11.3+92", {"build": "113"}, "2026.11.4+113"),  # extra vars arrive as strings
    ("2026.11.3+92", {"build": 5}, "2026.11.4+5"),  # a new minor is newer whatever the build
    ("2026.11.3+92", {"part": "build", "build": 100}, "2026.11.3+100"),
])
def test_bump_without_a_date(version, kwargs, expected):
    bumped = release_version_bump(version, **kwargs)
    assert bumped == expected
    assert release_version_compare(bumped, version) == 1


@pytest.mark.parametrize(("version", "part", "today", "expected"), [
    # same month: the calendar part stays
    ("2026.11.3+92", "minor", "2026-11-30", "2026.11.4+93"),
    # a new calendar month restarts minor at 0
    ("2026.11.3+92", "minor", "2026-12-01", "2026.12.0+93"),
    ("2026.11.3+92", "minor", "2027-02-14", "2027.02.0+93"),
    # a version from a later month than today keeps its month (never older than the input)
    ("2026.11.3+92", "minor", "2026-10-15", "2026.11.4+93"),
    # a rebuild ignores the date
    ("2026.11.3+92", "build", "2027-02-14", "2026.11.3+93"),
    # month: the next month, or today's month when that is later
    ("2026.11.3+92", "month", "2026-11-20", "2026.12.0+93"),
    ("2026.11.3+92", "month", "2026-10-20", "2026.12.0+93"),
    ("2026.11.3+92", "month", "2027-03-01", "2027.03.0+93"),
])
def test_bump_with_today(version, part, today, expected):
    assert release_version_bump(version, part=part, today=today) == expected


@pytest.mark.parametrize("today", [
    "2026-12", "2026-12-01", "2026-12-01T00:00:00Z", "2026-12-01T09:30:00+09:00", "2026-12-01 09:30:00",
    datetime.date(2026, 12, 1), datetime.datetime(2026, 12, 1, 9, 30, tzinfo=datetime.UTC),
])
def test_bump_takes_today_as_a_date_a_datetime_or_an_iso_string(today):
    assert release_version_bump("2026.11.3+92", today=today) == "2026.12.0+93"


@pytest.mark.parametrize("today", ["2026-13", "2026/12/01", "yesterday", "2026-12-32", 20261201, ""])
def test_bump_rejects_a_bad_today(today):
    with pytest.raises(AnsibleFilterError) as err:
        release_version_bump("2026.11.3+92", today=today)
    assert str(err.value) == ("release_version_bump: today must be a date, a datetime or a string YYYY-MM-DD "
                              f"(or YYYY-MM), got {today!r}")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"part": "major"}, "part must be one of build, minor, month, got 'major'"),
    ({"part": None}, "part must be one of build, minor, month, got None"),
    ({"build": -1}, "build must be a non-negative integer without leading zeros, got -1"),
    ({"build": "093"}, "build must be a non-negative integer without leading zeros, got '093'"),
    ({"build": True}, "build must be a non-negative integer without leading zeros, got True"),
    ({"build": 1.5}, "build must be a non-negative integer without leading zeros, got 1.5"),
    ({"part": "build", "build": 92}, "2026.11.3+92 is not newer than 2026.11.3+92: build must be greater than 92"),
    ({"part": "build", "build": 7}, "2026.11.3+7 is not newer than 2026.11.3+92: build must be greater than 92"),
])
def test_bump_rejects_bad_options(kwargs, message):
    with pytest.raises(AnsibleFilterError) as err:
        release_version_bump("2026.11.3+92", **kwargs)
    assert str(err.value) == f"release_version_bump: {message}"


def test_bump_rejects_a_malformed_version():
    with pytest.raises(AnsibleFilterError) as err:
        release_version_bump("2026.11.3")
    assert str(err.value) == f"release_version_bump: '2026.11.3' {RULE}: the +build part is missing"


def test_bump_does_not_leave_the_year_range():
    with pytest.raises(AnsibleFilterError) as err:
        release_version_bump("2999.12.4+1", part="month")
    assert str(err.value) == ("release_version_bump: the next version of 2999.12.4+1 would be in year 3000, "
                              "outside 2000-2999")
    assert release_version_bump("2999.12.4+1") == "2999.12.5+2"


# --- the plugin classes --------------------------------------------------------------------------------------------

def test_filter_module_exposes_the_three_filters():
    assert FilterModule().filters() == {
        "release_version": release_version,
        "release_version_compare": release_version_compare,
        "release_version_bump": release_version_bump,
    }


@pytest.mark.parametrize(("value", "valid"), [
    ("2026.11.3+92", True),
    ("2000.01.0+0", True),
    ("2026.11.3", False),
    ("2026.1.3+92", False),
    ("2026.11.03+92", False),
    ("latest", False),
    (2026, False),
    (None, False),
    ({"text": "2026.11.3+92"}, False),
])
def test_the_test_plugin_says_whether_the_rule_holds_and_never_raises(value, valid):
    is_release_version = ReleaseVersionTests().tests()["release_version"]
    assert is_release_version(value) is valid
