# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Blackout windows and freezes: when a deploy is refused, until when, and the override that lets it through.

* A **blackout window** recurs: ``{start: '22:00', end: '08:00', timezone: Asia/Seoul}`` is "no deploys from 22:00
  to 08:00, Seoul time", every day or only on ``weekdays`` (the days the window *starts* on, in its time zone). A
  window whose end is not after its start crosses midnight. ``end: '24:00'`` is the end of the day.
* A **freeze** is one period with absolute bounds (RFC 3339 with an offset):
  ``{name: year-end, start: '2026-12-24T00:00+09:00', end: '2027-01-02T00:00+09:00'}``.
* Both include their start and exclude their end: a deploy at 08:00 sharp after a 22:00-08:00 window is allowed.
* Clock changes (DST) never shorten a window: a bound at a wall time that occurs twice is taken at its first
  occurrence for a start and at its second for an end; a bound at a wall time that does not exist that day (clocks
  forward) is the moment of the change. Every comparison is done in UTC.

Standard library only (``zoneinfo`` needs the system's time zone database, ``/usr/share/zoneinfo``, or ``tzdata``).
Bad input raises :class:`WindowError` naming the variable, the entry and the allowed shape.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 (modules may run there; the filter runs on the controller)
    zoneinfo = None  # type: ignore[assignment]

UTC = datetime.timezone.utc  # noqa: UP017 (modules may run on Python < 3.11)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WINDOW_SHAPE = ("{name: night, start: '22:00', end: '08:00', timezone: Asia/Seoul, weekdays: [mon-fri],"
                " reason: ...} (name, weekdays and reason optional)")
FREEZE_SHAPE = "{name: year-end, start: '2026-12-24T00:00+09:00', end: '2027-01-02T00:00+09:00', reason: ...}"
WINDOW_KEYS = ("name", "start", "end", "timezone", "weekdays", "reason")
FREEZE_KEYS = ("name", "start", "end", "reason")
OVERRIDE_REASON = "delivery_window_override_reason"
OVERRIDE_FLAG = "delivery_window_override"
#: How many times :meth:`Calendar.open_at` follows a block to its end before it gives up (always blocked).
MAX_HOPS = 400
_CLOCK = re.compile(r"([01]?[0-9]|2[0-4]):([0-5][0-9])")
_DAY_MINUTES = 24 * 60


class WindowError(ValueError):
    """Bad blackout window, freeze or override input; the message names the variable and the allowed shape."""


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------
def _zone(name: Any, where: str) -> datetime.tzinfo:
    if not isinstance(name, str) or not name.strip():
        raise WindowError(f"{where}.timezone is required: an IANA time zone such as Asia/Seoul or UTC, got {name!r}")
    if zoneinfo is None:  # pragma: no cover
        raise WindowError(f"{where}.timezone: time zones need Python 3.9 or later (zoneinfo)")
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"{where}.timezone: unknown time zone {name!r} (an IANA name such as Asia/Seoul,"
                          " Asia/Tokyo or UTC)") from None


def _clock_minutes(value: Any, where: str, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        hint = f" (YAML reads an unquoted {value // 60}:{value % 60:02d} as the number {value}); quote it:" \
               f" {key}: '{value // 60:02d}:{value % 60:02d}'" if 0 <= value <= _DAY_MINUTES else ""
        raise WindowError(f"{where}.{key} must be a time of day 'HH:MM' (a quoted string), got the number"
                          f" {value}{hint}")
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not 0 <= minutes <= _DAY_MINUTES:
        raise WindowError(f"{where}.{key} must be a time of day 'HH:MM' from 00:00 to 24:00, got {value!r}")
    return minutes


def _weekday(name: str, where: str) -> int:
    text = name.strip().lower()
    for names in (WEEKDAYS, _FULL_WEEKDAYS):
        if text in names:
            return names.index(text)
    raise WindowError(f"{where}.weekdays: unknown day {name!r} (use {', '.join(WEEKDAYS)}, or a range such as"
                      " mon-fri)")


def _weekdays(value: Any, where: str) -> frozenset[int] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, (bytes, Mapping)) or not items:
        raise WindowError(f"{where}.weekdays must be a list of days such as [mon, tue] or [mon-fri], got {value!r}")
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise WindowError(f"{where}.weekdays: {item!r} is not a day name (use {', '.join(WEEKDAYS)})")
        first, dash, last = item.partition("-")
        start = _weekday(first, where)
        end = _weekday(last, where) if dash else start
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days)


def _text(value: Any, where: str, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise WindowError(f"{where}.{key} must be a string, got {value!r}")
    return str(value).strip() or None


def _entry(value: Any, where: str, keys: tuple[str, ...], shape: str,
           required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WindowError(f"{where} must be a dictionary {shape}, got {value!r}")
    unknown = sorted(str(key) for key in value if key not in keys)
    if unknown:
        raise WindowError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(keys)} ({shape})")
    for key in required:
        if value.get(key) in (None, ""):
            raise WindowError(f"{where}.{key} is required ({shape})")
    return value


def _entries(value: Any, variable: str, shape: str) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (Mapping, str, bytes)) or not isinstance(value, Sequence):
        raise WindowError(f"{variable} must be a list of {shape}, got {value!r}")
    return list(value)


def _moment(value: Any, where: str, key: str) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value.strip()))
        except ValueError:
            moment = None  # type: ignore[assignment]
    else:
        moment = None  # type: ignore[assignment]
    if moment is None or moment.tzinfo is None or moment.utcoffset() is None:
        raise WindowError(f"{where}.{key} must be an RFC 3339 date and time with an offset, such as"
                          f" 2026-12-24T00:00+09:00 or 2026-12-23T15:00Z, got {value!r}")
    return moment


# --------------------------------------------------------------------------------------------------
# Wall-clock times to instants, DST-safe
# --------------------------------------------------------------------------------------------------
def _wall(instant: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def wall_to_utc(wall: datetime.datetime, zone: datetime.tzinfo, last: bool = False) -> datetime.datetime:
    """The UTC instant of the naive wall time ``wall`` in ``zone``.

    A wall time that occurs twice (clocks back) is its first occurrence, or its second with ``last``. A wall time
    that does not exist (clocks forward) is the moment of the change: the first instant whose wall time is later.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(first, second), max(first, second)
    if _wall(low, zone) == wall or _wall(high, zone) == wall:
        return high if last else low
    # In the gap: the local wall time jumps past ``wall`` somewhere between the two readings.
    step = datetime.timedelta(seconds=1)
    while high - low > step:
        middle = low + (high - low) / 2
        if _wall(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


# --------------------------------------------------------------------------------------------------
# Windows, freezes and blocks
# --------------------------------------------------------------------------------------------------
def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _days_text(days: frozenset[int] | None) -> str:
    if days is None or len(days) == 7:
        return "every day"
    return ", ".join(WEEKDAYS[day] for day in sorted(days))


@dataclass(frozen=True)
class Block:
    """A window occurrence or a freeze that holds deploys at a given moment."""

    kind: str
    name: str
    description: str
    start: datetime.datetime
    end: datetime.datetime
    zone: datetime.tzinfo
    timezone: str
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "description": self.description, "reason": self.reason,
                "timezone": self.timezone, "start": rfc3339(self.start, self.zone), "end": rfc3339(self.end, self.zone),
                "start_utc": rfc3339(self.start, UTC), "end_utc": rfc3339(self.end, UTC),
                "ends": both_zones(self.end, self.zone)}

    def label(self) -> str:
        return f"{'blackout window' if self.kind == 'window' else 'freeze'} {self.name!r} ({self.description})"


@dataclass(frozen=True)
class Window:
    """A recurring blackout window in one time zone."""

    name: str
    start: int
    end: int
    zone: datetime.tzinfo
    timezone: str
    weekdays: frozenset[int] | None = None
    reason: str | None = None

    @property
    def description(self) -> str:
        return f"{_clock_text(self.start)}-{_clock_text(self.end)} {self.timezone}, {_days_text(self.weekdays)}"

    def _bound(self, day: datetime.date, minutes: int, last: bool) -> datetime.datetime:
        wall = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(minutes=minutes)
        return wall_to_utc(wall, self.zone, last=last)

    def occurrence(self, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime] | None:
        """(start, end) in UTC of the occurrence that starts on local date ``day``; ``None`` if none does."""
        if self.weekdays is not None and day.weekday() not in self.weekdays:
            return None
        end_day = day if self.end > self.start else day + datetime.timedelta(days=1)
        return self._bound(day, self.start, last=False), self._bound(end_day, self.end, last=True)

    def block_at(self, now: datetime.datetime) -> Block | None:
        """The occurrence that holds ``now`` (aware), if one does. One started yesterday may still run."""
        today = now.astimezone(self.zone).date()
        for day in (today - datetime.timedelta(days=1), today):
            bounds = self.occurrence(day)
            if bounds and bounds[0] <= now < bounds[1]:
                return Block("window", self.name, self.description, bounds[0], bounds[1], self.zone, self.timezone,
                             self.reason)
        return None


@dataclass(frozen=True)
class Freeze:
    """A named period with absolute bounds."""

    name: str
    start: datetime.datetime
    end: datetime.datetime
    zone: datetime.tzinfo
    reason: str | None = None

    @property
    def description(self) -> str:
        return f"{rfc3339(self.start, self.zone)} to {rfc3339(self.end, self.zone)}"

    def block_at(self, now: datetime.datetime) -> Block | None:
        if self.start <= now < self.end:
            return Block("freeze", self.name, self.description, self.start, self.end, self.zone,
                         zone_name(self.zone), self.reason)
        return None


def zone_name(zone: datetime.tzinfo) -> str:
    """``Asia/Seoul`` for a named zone, ``+09:00`` for a fixed offset, ``UTC``."""
    key = getattr(zone, "key", None)
    if key:
        return key
    offset = datetime.datetime(2000, 1, 1, tzinfo=zone).strftime("%z")
    return "UTC" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:5]}"


def parse_window(value: Any, where: str) -> Window:
    entry = _entry(value, where, WINDOW_KEYS, WINDOW_SHAPE, required=("start", "end", "timezone"))
    start = _clock_minutes(entry["start"], where, "start")
    end = _clock_minutes(entry["end"], where, "end")
    if start == _DAY_MINUTES:
        raise WindowError(f"{where}.start: 24:00 is only an end (the end of the day); start at '00:00'")
    if start == end:
        raise WindowError(f"{where}: start and end are both {_clock_text(start)}, a window of no length; for the"
                          " whole day use start: '00:00', end: '24:00'")
    zone = _zone(entry["timezone"], where)
    name = _text(entry.get("name"), where, "name") or f"{_clock_text(start)}-{_clock_text(end)} {entry['timezone']}"
    return Window(name, start, end, zone, str(entry["timezone"]).strip(), _weekdays(entry.get("weekdays"), where),
                  _text(entry.get("reason"), where, "reason"))


def parse_freeze(value: Any, where: str) -> Freeze:
    entry = _entry(value, where, FREEZE_KEYS, FREEZE_SHAPE, required=("name", "start", "end"))
    start = _moment(entry["start"], where, "start")
    end = _moment(entry["end"], where, "end")
    if end <= start:
        raise WindowError(f"{where}: end {entry['end']} is not after start {entry['start']}")
    return Freeze(str(_text(entry["name"], where, "name")), start.astimezone(UTC), end.astimezone(UTC),
                  end.tzinfo or UTC, _text(entry.get("reason"), where, "reason"))


def parse_windows(value: Any, variable: str = "delivery_blackout_windows") -> list[Window]:
    return [parse_window(item, f"{variable}[{index}]")
            for index, item in enumerate(_entries(value, variable, WINDOW_SHAPE))]


def parse_freezes(value: Any, variable: str = "delivery_freezes") -> list[Freeze]:
    return [parse_freeze(item, f"{variable}[{index}]")
            for index, item in enumerate(_entries(value, variable, FREEZE_SHAPE))]


# --------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------
def rfc3339(instant: datetime.datetime, zone: datetime.tzinfo) -> str:
    """``2026-11-22T08:00:00+09:00`` (``Z`` for UTC)."""
    text = instant.astimezone(zone).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z") if zone is UTC else text


def both_zones(instant: datetime.datetime, zone: datetime.tzinfo) -> str:
    """``2026-11-22 08:00 KST (Asia/Seoul, +09:00) = 2026-11-21 23:00 UTC``; a fixed offset shows as ``+09:00``."""
    utc_text = f"{instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    key = getattr(zone, "key", None)
    if zone is UTC or key in ("UTC", "Etc/UTC"):
        return utc_text
    local = instant.astimezone(zone)
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:5]}"
    local_text = f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({key}, {offset})" if key else \
        f"{local:%Y-%m-%d %H:%M} {offset}"
    return f"{local_text} = {utc_text}"


# --------------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calendar:
    """Every blackout window and freeze of an environment."""

    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()

    def blocks_at(self, now: datetime.datetime) -> list[Block]:
        found = [item.block_at(now) for item in (*self.freezes, *self.windows)]
        return [block for block in found if block is not None]

    def open_at(self, now: datetime.datetime) -> datetime.datetime | None:
        """The first moment from ``now`` on when nothing holds deploys; ``None`` if that is not in sight."""
        moment = now
        for _hop in range(MAX_HOPS):
            blocks = self.blocks_at(moment)
            if not blocks:
                return moment
            moment = max(block.end for block in blocks)
        return None


def override_of(reason: Any, flag: Any) -> str | None:
    """The override reason, stripped; ``None`` when there is no override. ``flag`` without a reason is refused."""
    if isinstance(reason, bool) or (reason is not None and not isinstance(reason, (str, int, float))):
        raise WindowError(f"{OVERRIDE_REASON} must be a string (why the deploy may go ahead), got {reason!r}")
    text = str(reason).strip() if reason is not None else ""
    if not text and _truthy(flag):
        raise WindowError(f"{OVERRIDE_FLAG}=true alone is refused: an override needs a reason, which is recorded in"
                          f" the release record; set {OVERRIDE_REASON}, e.g. -e {OVERRIDE_REASON}='hotfix for"
                          " INC-1234, approved by the on-call lead'")
    return text or None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def decide(calendar: Calendar, now: datetime.datetime, override_reason: str | None = None) -> dict[str, Any]:
    """Whether a deploy at ``now`` may go ahead, why not, until when, and the override that lets it through.

    Returns ``{allowed, blocked, overridden, now, active: [block], open_at, open_at_utc, override, msg}``;
    ``override`` (``{reason, windows}``) is set only when an override let a blocked deploy through.
    """
    now = now.astimezone(UTC)
    blocks = calendar.blocks_at(now)
    result: dict[str, Any] = {"allowed": True, "blocked": bool(blocks), "overridden": False,
                              "now": rfc3339(now, UTC), "active": [block.as_dict() for block in blocks],
                              "open_at": None, "open_at_utc": None, "override": None}
    if not blocks:
        result["open_at_utc"] = result["now"]
        count = len(calendar.windows) + len(calendar.freezes)
        result["msg"] = (f"no blackout window or freeze holds deploys now ({count} configured)" if count
                         else "no blackout windows or freezes configured")
        if override_reason:
            result["msg"] += f"; {OVERRIDE_REASON} is not needed (nothing to override; not recorded)"
        return result
    opens = calendar.open_at(now)
    zone = max(blocks, key=lambda block: block.end).zone
    if opens is not None:
        result["open_at"] = both_zones(opens, zone)
        result["open_at_utc"] = rfc3339(opens, UTC)
    held = "; ".join(f"{block.label()} until {both_zones(block.end, block.zone)}"
                     + (f" ({block.reason})" if block.reason else "") for block in blocks)
    if override_reason:
        result.update(overridden=True, override={"reason": override_reason, "windows": result["active"]})
        result["msg"] = f"deploys are held by {held}; overridden: {override_reason}"
        return result
    later = max(block.end for block in blocks)
    if opens is None:
        again = " Deploys stay held as far as the calendar goes."
    elif opens != later or len(blocks) > 1:
        again = f" Deploys are allowed again from {both_zones(opens, zone)}."
    else:
        again = ""
    result.update(allowed=False, msg=(
        f"deploy refused: {held}.{again} To deploy anyway set {OVERRIDE_REASON} to why (e.g. -e"
        f" {OVERRIDE_REASON}='hotfix for INC-1234'); the reason, the window and who overrode it are recorded in"
        " the release record."))
    return result


def parse_now(value: Any) -> datetime.datetime:
    """``now`` for :func:`decide`: the current time for ``None``/empty, else an RFC 3339 time with an offset."""
    if value is None or value == "":
        return datetime.datetime.now(UTC)
    try:
        return _moment(value, "now", "value").astimezone(UTC)
    except WindowError:
        raise WindowError(f"now must be an RFC 3339 date and time with an offset, such as 2026-11-21T23:30+09:00,"
                          f" got {value!r}") from None
