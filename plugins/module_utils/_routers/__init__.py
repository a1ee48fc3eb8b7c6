# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one Router interface that every traffic-shifting strategy uses; one adapter per router type.

An adapter (``haproxy.py``, ``nginx.py``, ``nginx_runtime.py``, ``kubernetes.py``) subclasses :class:`Router`,
declares its options (:meth:`Router.argument_spec`, documented in the matching doc fragment) and which of them it
needs (:attr:`Router.required`), and implements :meth:`Router.members`, :meth:`Router.get_weights`,
:meth:`Router.set_weights` and :meth:`Router.verify`. ``registry.py`` lists the adapters; canary_shift reads it.
Adding a router means adding one adapter file (and one import line in ``registry.py``), its doc fragment and its
tests.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ansible_collections.progressive.delivery.plugins.module_utils._result import ModuleFailure
from ansible_collections.progressive.delivery.plugins.module_utils._weights import make_before_break

_OPTION_IN_MESSAGE = re.compile(r"^option ([a-z_]+)\b(?!/)")


class RouterError(ModuleFailure):
    """Bad input or a failed change. The message names the option (and the allowed values) where one is at fault.

    Raised before anything changed, or after the adapter restored the previous state. ``option`` (the option at
    fault, in the module's result) defaults to the one the message starts with (``"option backend: ..."``).
    """

    def __init__(self, msg: str, option: str | None = None, **result: Any) -> None:
        if option is None:
            match = _OPTION_IN_MESSAGE.match(msg)
            option = match.group(1) if match else None
        super().__init__(msg, option, **result)


class Router(ABC):
    """A data plane with two pools of weighted members (servers, or destinations for Kubernetes routes)."""

    #: router name as given in the module's ``router`` option
    name: ClassVar[str]
    #: ``(option, value)`` when several adapters share ``name`` and this option picks one of them (nginx_mode)
    variant: ClassVar[tuple[str, str] | None] = None
    #: highest weight a single member can have on this router's scale
    max_weight: ClassVar[int]
    #: reduce weights by their gcd (25% -> 3 : 1); routers that store percentages keep 75 : 25
    reduce_weights: ClassVar[bool] = True
    #: options this adapter needs (the registry turns them into the module's ``required_if``)
    required: ClassVar[tuple[str, ...]] = ()
    #: groups of this adapter's options that exclude each other (AnsibleModule ``mutually_exclusive``)
    mutually_exclusive: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: one line for the module's documentation of the ``router`` option
    description: ClassVar[str] = ""

    def __init__(self, params: Mapping[str, Any], check_mode: bool = False, runner: Any = None) -> None:
        """``runner`` runs external commands (``AnsibleModule.run_command`` or the same signature)."""
        self.params = params
        self.check_mode = check_mode
        self.runner = runner

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
                              f" got {pool!r}", option=option)
        return list(pool)

    def check_weights(self, weights: Mapping[str, int]) -> None:
        """Refuse an explicit weight map (option ``weights``) this router cannot store."""
        bad = {member: weight for member, weight in weights.items()
               if not isinstance(weight, int) or not 0 <= weight <= self.max_weight}
        if bad:
            raise RouterError(f"option weights: {self.name} weights are integers from 0 to {self.max_weight},"
                              f" got {bad}", option="weights")

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

    def persisted(self, current: Mapping[str, int]) -> bool:
        """Whether the weights that survive a restart or reload are ``current`` (routers that persist weights
        next to their run-time state, like HAProxy's server-state file, check that file)."""
        return True

    def persist(self) -> None:  # noqa: B027 (optional hook: most routers have nothing to persist)
        """Write the run-time weights where a restart or reload reads them (see :meth:`persisted`)."""

    def describe(self) -> dict[str, Any]:
        """Where the change happens (backend, upstream, object), for the module's result."""
        return {}


def ordered_updates(before: Mapping[str, int], after: Mapping[str, int]) -> list[tuple[str, int]]:
    """Make-before-break order of single-member updates (see :func:`make_before_break`).

    Adapters look this name up in their own module at call time, so a benchmark can replace it (for example
    bench/shift_under_load.py's break-before-make run) without a switch in the product.
    """
    return make_before_break(before, after)
