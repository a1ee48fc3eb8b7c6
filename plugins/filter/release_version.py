# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Release versions ``YYYY.MM.minor+build``: parse, compare and bump.

This file holds three filters, so their documentation lives next to it in release_version.yml,
release_version_compare.yml and release_version_bump.yml (ansible-doc reads the adjacent YAML file
named after the filter only when the Python file has no DOCUMENTATION of its own).
The ``release_version`` test plugin (plugins/test/release_version.py) uses parse_release_version().
"""
from __future__ import annotations

import datetime
import re
from typing import Any, NamedTuple

from ansible.errors import AnsibleFilterError

RULE = "YYYY.MM.minor+build"
EXAMPLE = "2026.11.3+92"
BUMP_PARTS = ("build", "minor", "month")
YEAR_MIN = 2000
YEAR_MAX = 2999

# [0-9], not \d: \d also matches non-ASCII digits such as '٣'.
_SHAPE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)(?:\+([0-9]+))?")
_NUMBER = re.compile(r"0|[1-9][0-9]*")
_YEAR_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class InvalidReleaseVersion(ValueError):
    """A value that does not follow the rule; the message names the rule, the value and what is wrong."""


class ReleaseVersion(NamedTuple):
    """A parsed release version. Tuple order is version order: year, month, minor, then build (numerically)."""

    year: int
    month: int
    minor: int
    build: int

    @property
    def text(self) -> str:
        return f"{self.year:04d}.{self.month:02d}.{self.minor}+{self.build}"

    def as_dict(self) -> dict[str, Any]:
        return {"year": self.year, "month": self.month, "minor": self.minor, "build": self.build, "text": self.text}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(value: Any, why: str) -> InvalidReleaseVersion:
    return InvalidReleaseVersion(f"{_shown(value)} does not follow the version rule {RULE} (e.g. {EXAMPLE}): {why}")


def parse_release_version(value: Any) -> ReleaseVersion:
    """Parse ``YYYY.MM.minor+build`` strictly; raise InvalidReleaseVersion saying what is wrong."""
    if not isinstance(value, str):
        raise InvalidReleaseVersion(
            f"a release version must be a string {RULE} (e.g. {EXAMPLE}), got {type(value).__name__} {_shown(value)}")
    match = _SHAPE.fullmatch(value)
    if match is None:
        raise _invalid(value, "expected four unsigned numbers in the form YYYY.MM.minor+build")
    year, month, minor, build = match.groups()
    if build is None:
        raise _invalid(value, "the +build part is missing")
    if len(year) != 4 or not YEAR_MIN <= int(year) <= YEAR_MAX:
        raise _invalid(value, f"YYYY must be a four-digit year {YEAR_MIN}-{YEAR_MAX}")
    if len(month) != 2 or not 1 <= int(month) <= 12:
        raise _invalid(value, "MM must be two digits 01-12")
    for name, digits in (("minor", minor), ("build", build)):
        if not _NUMBER.fullmatch(digits):
            raise _invalid(value, f"{name} must not have leading zeros")
    return ReleaseVersion(int(year), int(month), int(minor), int(build))


def _parse(filter_name: str, value: Any, role: str = "") -> ReleaseVersion:
    try:
        return parse_release_version(value)
    except InvalidReleaseVersion as exc:
        raise AnsibleFilterError(f"{filter_name}: {role}{exc}") from None


def _calendar_month(filter_name: str, today: Any) -> tuple[int, int]:
    """(year, month) of ``today``: a date, a datetime, or a string YYYY-MM, YYYY-MM-DD or an ISO 8601 timestamp."""
    if isinstance(today, datetime.date):  # datetime.datetime is a date too
        return today.year, today.month
    if isinstance(today, str):
        match = _YEAR_MONTH.fullmatch(today)
        if match and 1 <= int(match.group(2)) <= 12:
            return int(match.group(1)), int(match.group(2))
        try:
            parsed = datetime.datetime.fromisoformat(today)
        except ValueError:
            pass
        else:
            return parsed.year, parsed.month
    raise AnsibleFilterError(
        f"{filter_name}: today must be a date, a datetime or a string YYYY-MM-DD (or YYYY-MM), got {_shown(today)}")


def _build_number(filter_name: str, build: Any) -> int:
    if isinstance(build, int) and not isinstance(build, bool) and build >= 0:
        return build
    if isinstance(build, str) and _NUMBER.fullmatch(build):
        return int(build)
    raise AnsibleFilterError(
        f"{filter_name}: build must be a non-negative integer without leading zeros, got {_shown(build)}")


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def release_version(value: Any) -> dict[str, Any]:
    """Parse a release version into {year, month, minor, build, text}."""
    return _parse("release_version", value).as_dict()


def release_version_compare(value: Any, other: Any) -> int:
    """-1, 0 or 1 as ``value`` is older than, the same as, or newer than ``other``."""
    mine = _parse("release_version_compare", value)
    theirs = _parse("release_version_compare", other, role="other: ")
    return (mine > theirs) - (mine < theirs)


def release_version_bump(value: Any, part: str = "minor", build: Any = None, today: Any = None) -> str:
    """The next version after ``value``; see release_version_bump.yml for the rules."""
    name = "release_version_bump"
    current = _parse(name, value)
    if part not in BUMP_PARTS:
        raise AnsibleFilterError(f"{name}: part must be one of {', '.join(BUMP_PARTS)}, got {_shown(part)}")
    new_build = current.build + 1 if build is None else _build_number(name, build)
    calendar = (current.year, current.month)
    now = None if today is None else _calendar_month(name, today)
    if part == "build":
        # A rebuild of the same release: the calendar part and minor stay, whatever the date.
        minor = current.minor
    elif part == "minor":
        if now is not None and now > calendar:
            calendar, minor = now, 0
        else:
            minor = current.minor + 1
    else:  # month
        calendar = _next_month(*calendar)
        if now is not None and now > calendar:
            calendar = now
        minor = 0
    if not YEAR_MIN <= calendar[0] <= YEAR_MAX:
        raise AnsibleFilterError(
            f"{name}: the next version of {current.text} would be in year {calendar[0]}, outside {YEAR_MIN}-{YEAR_MAX}")
    bumped = ReleaseVersion(calendar[0], calendar[1], minor, new_build)
    if bumped <= current:
        raise AnsibleFilterError(
            f"{name}: {bumped.text} is not newer than {current.text}: build must be greater than {current.build}")
    return bumped.text


class FilterModule:
    """Release version filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "release_version": release_version,
            "release_version_compare": release_version_compare,
            "release_version_bump": release_version_bump,
        }
