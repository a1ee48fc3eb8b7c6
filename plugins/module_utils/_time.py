# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Durations and times: parsing (Prometheus durations, unix times, RFC 3339) and formatting.

Standard library only, so that modules that never make an HTTP call (``deploy_lock``, the state store) do not load
``ansible.module_utils.urls`` through the Prometheus client.
"""
from __future__ import annotations

import datetime
import math
import re
from typing import Any

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_duration(text: Any) -> float:
    """Seconds in a Prometheus duration (``"2m"``, ``"1h30m"``, ``"500ms"``) or a plain number of seconds.

    Raises ``ValueError`` for anything else, and for durations that are not greater than zero.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    seconds = float(text) if isinstance(text, (int, float)) else _parse_duration_text(str(text).strip())
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"duration must be greater than zero, got {text!r}")
    return seconds


def option_duration(option: str, value: Any, allow_zero: bool = False) -> float:
    """Seconds of the duration option ``option`` (see :func:`parse_duration`); ``ValueError`` names the option.

    ``allow_zero`` also accepts 0 (``0``, ``0s``), for options where zero means "do not wait".
    """
    if allow_zero and not isinstance(value, bool) and str(value).strip() in ("0", "0.0", "0s"):
        return 0.0
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"option {option}: {exc}") from None


def _parse_duration_text(text: str) -> float:
    if _NUMBER_RE.fullmatch(text):
        return float(text)
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r} (use a number of seconds or a Prometheus duration like"
                         " 30s, 2m, 1h30m)")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def parse_time(value: Any) -> float:
    """Unix timestamp (seconds) from a unix timestamp (number or numeric string) or an RFC 3339 date-time.

    RFC 3339 needs a time zone: ``2026-11-21T10:00:00Z`` or ``2026-11-21T19:00:00+09:00``.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, datetime.datetime):
        return _aware_timestamp(value, value)
    if isinstance(value, (int, float)):
        return _finite_time(float(value), value)
    text = str(value).strip()
    if _NUMBER_RE.fullmatch(text):
        return _finite_time(float(text), value)
    try:
        parsed = datetime.datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    except ValueError:
        raise ValueError(f"not a unix timestamp or RFC 3339 date-time: {value!r}"
                         " (e.g. 1795250400 or 2026-11-21T10:00:00Z)") from None
    return _aware_timestamp(parsed, value)


def _finite_time(seconds: float, original: Any) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a valid unix timestamp: {original!r}")
    return seconds


def _aware_timestamp(parsed: datetime.datetime, original: Any) -> float:
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"RFC 3339 date-time needs a time zone (Z or +hh:mm): {original!r}")
    return parsed.timestamp()


def format_time(timestamp: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-11-21T10:00:00.000Z``."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)  # noqa: UP017 (modules may run on Python < 3.11)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_remaining(seconds: float) -> str:
    """``1h02m03s``, ``4m05s``, ``7s`` (whole seconds, rounded up; ``0s`` for nothing left)."""
    total = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
