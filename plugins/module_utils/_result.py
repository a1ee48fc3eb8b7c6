# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one result contract of every module in the collection.

* Success: ``changed``; for a module that changes state, ``before`` and ``after`` of the same shape (what the task
  found and what it left, or would leave in check mode); ``diff`` (``before``/``after``) only when diff mode is on,
  as kubernetes.core does; module-specific keys next to them.
* Failure: ``msg``, plus ``option`` naming the option at fault when one is, plus whatever partial result the
  failing code had (for example the lock that was found). module_utils raise :class:`ModuleFailure` (or an
  exception the module maps to it); the module turns it into ``fail_json`` once, in ``main()``, through
  :func:`run_module`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule


class ModuleFailure(Exception):
    """A failure that carries its message, the option at fault (if any) and the partial result."""

    def __init__(self, msg: str, option: str | None = None, **result: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.option = option
        self.result = result

    def as_result(self) -> dict[str, Any]:
        payload = {**self.result, "msg": self.msg}
        if self.option:
            payload["option"] = self.option
        return payload


class ContractModule(AnsibleModule):
    """AnsibleModule whose own argument-validation failures also name the option at fault.

    ``AnsibleModule.__init__`` fails on a bad choice, type or a missing required option with a message only; the
    contract wants ``option`` too, so a role can tell the user which variable to fix.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._validated = False
        super().__init__(*args, **kwargs)
        self._validated = True

    def fail_json(self, msg: str, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        if "option" not in kwargs and not self._validated:
            msg, option = self.validation_failure(msg)
            if option:
                kwargs["option"] = option
        super().fail_json(msg=msg, **kwargs)
        raise AssertionError("fail_json returned")  # pragma: no cover

    def validation_failure(self, msg: str) -> tuple[str, str | None]:
        """The message and the option at fault of a failure in Ansible's own argument validation. Subclasses may
        rewrite the message (for example to say which element of a list option is wrong)."""
        return msg, option_in_validation_error(self, msg)


#: Ansible's messages that list the options at fault after a colon (the first listed is the one named).
_LISTED_OPTIONS = re.compile(r"(?:missing required arguments|(?:all|any) of the following are missing"
                             r"|parameters are mutually exclusive|parameters are required together"
                             r"|one of the following is required): ([\w|, ]+)")


def option_in_validation_error(module: Any, msg: str) -> str | None:
    """The top-level option an argument-validation message is about (the first one it names), else ``None``."""
    result = getattr(module, "validation_result", None)
    if result is None or not result.errors.errors:
        return None
    known = set(getattr(module, "argument_spec", {}) or {})
    text = str(msg)
    if text.startswith("Unsupported parameters"):
        unknown = text.split(":", 1)[-1].split(". Supported", 1)[0]
        names = [name.strip() for name in unknown.replace("(", " ").replace(")", " ").split(",")]
        return names[0].split()[0] if names and names[0].split() else None
    listed = _LISTED_OPTIONS.search(text)
    if listed:
        first = re.split(r"[,|\s]+", listed.group(1).strip())[0]
        if first in known:
            return first
    positions = [(match.start(), name) for name in known
                 for match in [re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", text)] if match]
    return min(positions)[1] if positions else None


def state_result(module: Any, changed: bool, before: Any, after: Any, *, header: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """``changed``, ``before``, ``after``, the module's own keys, and ``diff`` when diff mode is on."""
    result: dict[str, Any] = {"changed": changed, "before": before, "after": after, **extra}
    if getattr(module, "_diff", False):
        result["diff"] = diff_of(before, after, header)
    return result


def diff_of(before: Any, after: Any, header: str | None = None) -> dict[str, Any]:
    """Ansible's diff dict; ``None`` (nothing there) shows as an empty mapping."""
    diff: dict[str, Any] = {"before": {} if before is None else before, "after": {} if after is None else after}
    if header:
        diff["before_header"] = diff["after_header"] = header
    return diff


def fail(module: Any, failure: ModuleFailure) -> NoReturn:
    module.fail_json(**failure.as_result())
    raise AssertionError("fail_json returned")  # pragma: no cover (fail_json exits)


def run_module(module: Any, run: Callable[[], Mapping[str, Any]],
               translate: Callable[[Exception], ModuleFailure | None] | None = None) -> NoReturn:
    """Call ``run`` and exit with its result; a :class:`ModuleFailure` (or an exception that ``translate`` maps to
    one) becomes the one ``fail_json`` of the module."""
    try:
        result = run()
    except ModuleFailure as failure:
        fail(module, failure)
    except Exception as exc:  # pylint: disable=broad-except
        failure = translate(exc) if translate else None
        if failure is None:
            raise
        fail(module, failure)
    module.exit_json(**result)
    raise AssertionError("exit_json returned")  # pragma: no cover
