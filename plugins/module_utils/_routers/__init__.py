# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one Router interface that every traffic-shifting strategy uses; one adapter per router type.

An adapter (``haproxy.py``, ``nginx.py``, ``kubernetes.py``) subclasses :class:`Router`, declares its options
(:meth:`Router.argument_spec`, documented in the matching doc fragment) and implements :meth:`Router.members`,
:meth:`Router.get_weights`, :meth:`Router.set_weights` and :meth:`Router.verify`. Adding a router means adding
one file, its doc fragment and its tests.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ansible_collections.progressive.delivery.plugins.module_utils._weights import make_before_break

#: Private switch for bench/shift_under_load.py only (not an option): apply losses before gains.
BREAK_BEFORE_MAKE_ENV = "_PROGRESSIVE_DELIVERY_BENCH_BREAK_BEFORE_MAKE"


class RouterError(Exception):
    """Bad input or a failed change. The message names the option (and the allowed values) where one is at fault.

    Raised before anything changed, or after the adapter restored the previous state.
    """


class Router(ABC):
    """A data plane with two pools of weighted members (servers, or destinations for Kubernetes routes)."""

    #: router name as given in the module's ``router`` option
    name: ClassVar[str]
    #: highest weight a single member can have on this router's scale
    max_weight: ClassVar[int]
    #: reduce weights by their gcd (25% -> 3 : 1); routers that store percentages keep 75 : 25
    reduce_weights: ClassVar[bool] = True

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False) -> None:
        self.params = params
        self.check_mode = check_mode

    @staticmethod
    def argument_spec() -> dict[str, dict[str, Any]]:
        """This router's module options (documented in its doc fragment)."""
        return {}

    def members(self, pool: Any, option: str) -> list[str]:
        """Normalise a pool option (``stable``/``canary``) to member names; RouterError names ``option``."""
        if isinstance(pool, str):
            pool = [pool]
        if not isinstance(pool, list) or not all(isinstance(member, str) and member for member in pool):
            raise RouterError(f"option {option}: a {self.name} pool is a server name or a list of server names,"
                              f" got {pool!r}")
        return list(pool)

    @abstractmethod
    def get_weights(self, members: Sequence[str]) -> dict[str, int]:
        """Current weight of each member; RouterError (naming the option) if one does not exist."""

    @abstractmethod
    def set_weights(self, current: Mapping[str, int], target: Mapping[str, int]) -> None:
        """Move from ``current`` to ``target`` without a moment where every member has weight 0.

        On failure, restore ``current`` (or leave it untouched) and raise RouterError.
        """

    @abstractmethod
    def verify(self, target: Mapping[str, int]) -> dict[str, int]:
        """Read the weights back from the data plane's control interface; RouterError if they differ from
        ``target``. Returns what was read."""

    def describe(self) -> dict[str, Any]:
        """Where the change happens (backend, upstream, object), for the module's result."""
        return {}


def ordered_updates(before: Mapping[str, int], after: Mapping[str, int]) -> list[tuple[str, int]]:
    """Make-before-break order of single-member updates (see :func:`make_before_break`)."""
    steps = make_before_break(before, after)
    if os.environ.get(BREAK_BEFORE_MAKE_ENV) == "1":
        gains = [step for step in steps if step[1] > before.get(step[0], 0)]
        steps = [step for step in steps if step not in gains] + gains
    return steps
