# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin ``progressive.delivery.analysis``: one rollout step's analysis, polled on the controller.

Every ``interval`` it runs ``progressive.delivery.slo_check`` (with ``fail_on_verdict: false``; in the controller
process when the host is the controller, else through ``_execute_module``: ``plugins/plugin_utils/_in_process.py``),
requests the ``health_urls`` from the controller and inspects the ``containers`` with
``community.docker.docker_container_info``; the folding (Argo Rollouts semantics), the progress lines and the
explanations live in ``plugins/plugin_utils/_analysis.py``. Documentation: ``plugins/modules/analysis.py``.

With ``hold``, a passing analysis goes on observing, in slices of ``hold.poll_interval``, until the approval gate
``hold.gate`` opens (looked at between slices with ``progressive.delivery.approval`` ``state=status``, the wait
loop of ``module_utils/_approval.py`` with the slices as its sleep): the candidate keeps its weight and stays
guarded while people decide. A slice that does not pass ends the hold with that slice's verdict; no approval
within ``hold.timeout`` fails the task with ``hold.decision=timed_out``.

With ``release``, every poll also reads the release record (``progressive.delivery.release_record``, the same
way): a release that
is no longer the current one (a rollback or another deploy took it over) ends the analysis at that poll with the
verdict ``taken_over``. With pipelining (``ansible.cfg``), a poll runs its module calls (slo_check, each container,
the record) at once, in threads of the worker; without it, one after the other.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import threading
import time
import urllib.error
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.urls import open_url
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.progressive.delivery.plugins.module_utils._approval import approvals_text, check_gate
from ansible_collections.progressive.delivery.plugins.module_utils._approval import wait as wait_for_gate
from ansible_collections.progressive.delivery.plugins.module_utils._result import (
    ModuleFailure,
    option_in_validation_error,
)
from ansible_collections.progressive.delivery.plugins.module_utils._state_store import STATE_OPTIONS
from ansible_collections.progressive.delivery.plugins.module_utils._time import (
    format_remaining,
    format_time,
    option_duration,
)
from ansible_collections.progressive.delivery.plugins.modules import release_record
from ansible_collections.progressive.delivery.plugins.modules import slo_check as slo_check_module
from ansible_collections.progressive.delivery.plugins.plugin_utils import _in_process as in_process
from ansible_collections.progressive.delivery.plugins.plugin_utils._analysis import (
    PASS,
    AnalysisConfig,
    AnalysisOptionError,
    Check,
    Measurement,
    container_check,
    container_state,
    health_check,
    run_analysis,
    slis_for_poll,
)

display = Display()

SLO_CHECK = "progressive.delivery.slo_check"
DOCKER_INFO = "community.docker.docker_container_info"
APPROVAL = "progressive.delivery.approval"
RELEASE_RECORD = "progressive.delivery.release_record"
#: the verdict of an analysis whose release stopped being the current one while it ran
TAKEN_OVER = "taken_over"

PROMETHEUS_OPTIONS: dict[str, dict[str, Any]] = {
    "bearer_token": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "headers": {"type": "dict"},
    "validate_certs": {"type": "bool"},
    "timeout": {"type": "float"},
    "retries": {"type": "int"},
    "retry_delay": {"type": "float"},
}

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "prometheus_url": {"type": "str"},
    "prometheus": {"type": "dict", "options": PROMETHEUS_OPTIONS},
    "slis": {"type": "list", "elements": "dict", "default": []},
    "since": {"type": "raw"},
    "pass_score": {"type": "float"},
    "marginal_score": {"type": "float"},
    "duration": {"type": "raw", "required": True},
    "interval": {"type": "raw", "default": "5s"},
    "max_duration": {"type": "raw"},
    "progress_interval": {"type": "raw", "default": "10s"},
    "failure_limit": {"type": "int", "default": 0},
    "inconclusive_limit": {"type": "int", "default": 2},
    "health_urls": {"type": "list", "elements": "str", "default": []},
    "health_timeout": {"type": "raw", "default": "5s"},
    "containers": {"type": "list", "elements": "str", "default": []},
    "docker": {"type": "dict", "default": {}},
    "label": {"type": "str", "default": ""},
    "fail_on_verdict": {"type": "bool", "default": True},
    "load": {"type": "dict", "options": {
        "url": {"type": "str", "required": True},
        "rate": {"type": "float", "default": 10.0},
        "timeout": {"type": "float", "default": 5.0},
    }},
    "hold": {"type": "dict", "options": {
        "gate": {"type": "str", "required": True},
        "approvers": {"type": "list", "elements": "str", "default": []},
        "quorum": {"type": "int", "default": 1},
        "timeout": {"type": "raw", "default": "1h"},
        "poll_interval": {"type": "raw", "default": "15s"},
    }},
    "release": {"type": "dict", "options": {
        "environment": {"type": "str", "required": True},
        "app": {"type": "str", "required": True},
        "id": {"type": "str", "required": True},
    }},
    **STATE_OPTIONS,
}

#: slo_check options that the action takes inside ``prometheus`` (a failure naming one names ``prometheus``).
_MODULE_OPTION = {**{name: "prometheus" for name in PROMETHEUS_OPTIONS}, "prometheus_url": "prometheus_url",
                  "slis": "slis", "pass_score": "pass_score", "marginal_score": "marginal_score"}


class OptionFailure(Exception):
    def __init__(self, msg: str, option: str | None, **result: Any) -> None:
        super().__init__(msg)
        self.msg, self.option, self.result = msg, option, result


class _Validated:
    """What :func:`option_in_validation_error` reads from a module, for the action's own validation."""

    def __init__(self, validation_result: Any) -> None:
        self.validation_result = validation_result
        self.argument_spec = ARGUMENT_SPEC


def validate(args: dict[str, Any]) -> dict[str, Any]:
    """The task's arguments, validated and with defaults; :class:`OptionFailure` names the option at fault."""
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(args)
    if result.error_messages:
        msg = "; ".join(result.error_messages)
        raise OptionFailure(msg, option_in_validation_error(_Validated(result), result.error_messages[0]))
    params = result.validated_parameters
    if not (params["slis"] or params["health_urls"] or params["containers"]):
        raise OptionFailure("nothing to analyse: set slis, health_urls or containers", "slis")
    if params["slis"] and not params["prometheus_url"]:
        raise OptionFailure("option prometheus_url is required with slis", "prometheus_url")
    if params["since"] not in (None, "") and not any(sli.get("judge") == "sequential" for sli in params["slis"]):
        raise OptionFailure("option since applies to sequential indicators (judge: sequential), and there is none",
                            "since")
    try:
        params["health_timeout"] = option_duration("health_timeout", params["health_timeout"])
    except ValueError as exc:
        raise OptionFailure(str(exc), "health_timeout") from None
    if params["hold"]:
        hold = params["hold"]
        for option in ("timeout", "poll_interval"):
            try:
                hold[option] = option_duration(f"hold.{option}", hold[option])
            except ValueError as exc:
                raise OptionFailure(str(exc), "hold") from None
        if not hold["gate"].strip():
            raise OptionFailure("option hold: gate must name the approval gate", "hold")
        try:  # the approval module's own rules for approvers and quorum
            hold["approvers"] = check_gate(hold["approvers"], hold["quorum"])
        except ModuleFailure as exc:
            raise OptionFailure(f"option hold: {exc}", "hold") from None
    if params["release"] and not all(str(params["release"][key]).strip() for key in ("environment", "app", "id")):
        raise OptionFailure("option release: environment, app and id must not be empty", "release")
    if (params["hold"] or params["release"]) and params["state_backend"] == "postgres" and not params["state_dsn"]:
        raise OptionFailure("option state_dsn is required with state_backend=postgres", "state_dsn")
    return params


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        try:
            params = validate(dict(self._task.args))
            config = AnalysisConfig.from_args(params)
        except (OptionFailure, AnalysisOptionError) as exc:
            result.update(failed=True, changed=False, msg=exc.msg, option=exc.option)
            return result
        poller = _Poller(self, params, task_vars)
        load: _Load | None = None
        try:
            if params["load"]:
                load = _Load(**params["load"])
                load.start()
            analysis = run_analysis(config, poller.measure, time.monotonic, time.sleep, display.display)
            held = _Hold(self, params, config, poller, task_vars).run() if params["hold"] and \
                analysis.verdict == PASS else None
        except OptionFailure as exc:
            result.update(failed=True, changed=False, msg=exc.msg, **exc.result)
            if exc.option:
                result["option"] = exc.option
            return result
        except TakenOver as exc:
            result.update(changed=False, verdict=TAKEN_OVER, msg=exc.msg, taken_over=exc.view, polls=poller.polls,
                          failed=params["fail_on_verdict"])
            return result
        finally:
            if load:
                load.stop()
                result["load"] = load.summary()
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(analysis.result())
        if held is not None:
            result.update(held)
        if poller.warnings:
            result["warnings"] = poller.warnings
        timed_out = held is not None and held["hold"]["decision"] == "timed_out"
        if params["fail_on_verdict"] and (result["verdict"] != PASS or timed_out):
            result["failed"] = True
        return result


class TakenOver(Exception):
    """The release of option ``release`` is no longer the current one: the analysis stops at this poll."""

    def __init__(self, release: dict[str, Any], answer: dict[str, Any], polls: int) -> None:
        def brief(entry: Any) -> dict[str, Any] | None:
            return {key: entry.get(key) for key in ("id", "version", "strategy", "outcome", "reason")} \
                if isinstance(entry, dict) else None

        current, last = brief(answer.get("current")), brief(answer.get("last"))
        now = (current or {}).get("id")
        # finished: the release itself ended (a rollback took it over); else another release is current (or none)
        finished = now is None and (last or {}).get("id") == release["id"]
        self.view = {"current": current, "last": last, "finished": finished}
        if finished:
            why = f"it already finished: {last.get('outcome')} ({last.get('reason')})"  # type: ignore[union-attr]
        else:
            why = f"the current release is {now or 'none'}"
        self.msg = (f"release {release['id']} is no longer current in {release['environment']}/{release['app']}"
                    f" at poll {polls + 1}: {why}; the analysis stops")
        super().__init__(self.msg)


class _SliceFailed(Exception):
    def __init__(self, analysis: Any) -> None:
        super().__init__(analysis.message())
        self.analysis = analysis


class _Hold:
    """After a passing analysis: observe on, slice by slice, until the approval gate opens or the hold times out."""

    def __init__(self, action: ActionModule, params: dict[str, Any], config: AnalysisConfig, poller: _Poller,
                 task_vars: dict[str, Any]) -> None:
        self.action, self.params, self.config, self.poller, self.task_vars = action, params, config, poller, task_vars
        self.hold = params["hold"]
        self.slices: list[Any] = []
        self.status_args = {"name": self.hold["gate"], "state": "status", "approvers": self.hold["approvers"],
                            "quorum": self.hold["quorum"],
                            **{key: params[key] for key in STATE_OPTIONS if params[key] is not None}}

    def read(self) -> dict[str, Any]:
        answer = self.action._execute_module(module_name=APPROVAL, module_args=self.status_args,
                                             task_vars=self.task_vars)
        if answer.get("failed"):
            raise OptionFailure(f"approval gate {self.hold['gate']!r}: {answer.get('msg')}",
                                answer.get("option") or "hold")
        return answer["after"]

    def observe(self, seconds: float) -> None:
        """The wait loop's sleep: an analysis slice of ``seconds`` (a plain sleep when shorter than an interval)."""
        if seconds < self.config.interval:
            time.sleep(seconds)
            return
        label = f"{self.config.label}, holding" if self.config.label else "holding"
        config = dataclasses.replace(self.config, duration=seconds, max_duration=seconds, label=label)
        analysis = run_analysis(config, self.poller.measure, time.monotonic, time.sleep, display.display)
        self.slices.append(analysis)
        if analysis.verdict != PASS:
            raise _SliceFailed(analysis)

    def run(self) -> dict[str, Any]:
        hold, gate = self.hold, self.hold["gate"]
        poll = max(hold["poll_interval"], self.config.interval)
        started = time.monotonic()
        try:
            outcome = wait_for_gate(self.read, hold["timeout"], poll, self.config.progress_every or poll,
                                    report=display.display, clock=time.monotonic, sleep=self.observe)
        except _SliceFailed as failed:
            shaped = failed.analysis.result()
            waited = time.monotonic() - started
            shaped["msg"] = (f"while holding for approval gate {gate!r} ({format_remaining(waited)} in):"
                             f" {shaped['msg']}")
            return {**shaped, "hold": self._summary("failed", waited, None)}
        view = outcome.view
        if outcome.timed_out:
            return {"msg": f"approval gate {gate!r} timed out after {format_remaining(hold['timeout'])} (the"
                           f" candidate was observed meanwhile, {self._polls()} polls, all passing):"
                           f" {len(view['approved_by'])} of {view['quorum']} approvals; {approvals_text(view)}",
                    "hold": self._summary("timed_out", outcome.waited, view)}
        line = f"approval gate {gate!r} is approved by {', '.join(view['approved_by'])}"
        if outcome.waited >= 1:
            display.display(line)
        return {"hold": self._summary("open", outcome.waited, view)}

    def _polls(self) -> int:
        return sum(len(analysis.measurements) for analysis in self.slices)

    def _summary(self, decision: str, waited: float, view: dict[str, Any] | None) -> dict[str, Any]:
        return {"gate": self.hold["gate"], "decision": decision, "waited": round(waited, 3),
                "approved_by": list((view or {}).get("approved_by", [])), "polls": self._polls(),
                "slices": len(self.slices)}


class _Load:
    """Synthetic requests at ``rate`` per second to ``url`` while the analysis runs (Flagger's load tester, in the
    controller): the evidence of a pool that gets no user traffic yet, such as blue-green's preview at 0 %."""

    def __init__(self, url: str, rate: float, timeout: float) -> None:
        if not url.startswith(("http://", "https://")) or rate <= 0 or timeout <= 0:
            raise OptionFailure(f"option load: needs an http(s) url and a positive rate and timeout, got url={url!r}"
                                f" rate={rate} timeout={timeout}", "load")
        self.url, self.rate, self.timeout = url, rate, timeout
        self.codes: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        workers = max(1, min(8, int(rate)))
        self._threads = [threading.Thread(target=self._run, daemon=True) for _worker in range(workers)]

    def _run(self) -> None:
        interval = len(self._threads) / self.rate
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with open_url(self.url, method="GET", timeout=self.timeout, follow_redirects="safe") as resp:
                    resp.read()
                    code = str(resp.status)
            except urllib.error.HTTPError as exc:
                code = str(exc.code)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                code = f"error: {getattr(exc, 'reason', exc)}"
            self.codes[code] += 1
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 1)

    def summary(self) -> dict[str, Any]:
        return {"url": self.url, "rate": self.rate, "sent": sum(self.codes.values()), "answers": dict(self.codes)}


class _Poller:
    """One measurement per call: slo_check, the health URLs and the containers."""

    def __init__(self, action: ActionModule, params: dict[str, Any], task_vars: dict[str, Any]) -> None:
        self.action = action
        self.params = params
        self.task_vars = task_vars
        self.previous: dict[str, Any] | None = None
        self.first_state: dict[str, dict[str, Any] | None] = {}
        self.polls = 0
        self.warnings: list[str] = []
        # concurrent module calls need pipelining: without it they would share the task's remote tmp directory
        self.parallel = action._is_pipelining_enabled("new")

    def _module(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return self.action._execute_module(module_name=name, module_args=args, task_vars=self.task_vars)

    def _warn(self, result: dict[str, Any]) -> None:
        for warning in result.get("warnings") or []:
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _all(self, calls: list[Callable[[], Any]]) -> list[Any]:
        """Each call's answer, in order; at once with pipelining. The first call's exception is raised first."""
        if not self.parallel or len(calls) < 2:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=len(calls), thread_name_prefix="analysis-poll") as pool:
            futures = [pool.submit(call) for call in calls]
            return [future.result() for future in futures]

    def measure(self, elapsed: float) -> Measurement:
        at = format_time(time.time())
        params = self.params
        calls: list[Callable[[], Any]] = [self.release_current] if params["release"] else []
        calls += [self.slo_check] if params["slis"] else []
        calls += [functools.partial(self.health, url) for url in params["health_urls"]]
        calls += [functools.partial(self.container, name) for name in params["containers"]]
        answers = self._all(calls)
        if params["release"]:
            answers.pop(0)
        slo = answers.pop(0) if params["slis"] else None
        self.polls += 1
        return Measurement(elapsed=elapsed, at=at, slo=slo, checks=answers)

    def release_current(self) -> None:
        """Raise :class:`TakenOver` when the release is no longer the current one of its environment and app."""
        release = self.params["release"]
        args = {"environment": release["environment"], "app": release["app"],
                **{key: self.params[key] for key in STATE_OPTIONS if self.params[key] is not None}}
        answer = in_process.execute(self.action, release_record, RELEASE_RECORD, args, self.task_vars)
        if answer.get("failed"):
            raise OptionFailure(f"cannot read the release record of {release['environment']}/{release['app']}:"
                                f" {answer.get('msg')}", answer.get("option") or "release")
        if (answer.get("current") or {}).get("id") != release["id"]:
            raise TakenOver(release, answer, self.polls)

    def slo_check(self) -> dict[str, Any]:
        params = self.params
        args: dict[str, Any] = {"prometheus_url": params["prometheus_url"], "fail_on_verdict": False,
                                "slis": slis_for_poll(params["slis"], params["since"], self.previous)}
        args.update({key: value for key, value in (params["prometheus"] or {}).items() if value is not None})
        args.update({key: params[key] for key in ("pass_score", "marginal_score") if params[key] is not None})
        raw = in_process.execute(self.action, slo_check_module, SLO_CHECK, args, self.task_vars)
        self._warn(raw)
        if raw.get("failed"):
            option = raw.get("option")
            raise OptionFailure(f"slo_check failed at poll {self.polls + 1}: {raw.get('msg')}",
                                _MODULE_OPTION.get(option, option), last=_clean(raw))
        self.previous = _clean(raw)
        return self.previous

    def health(self, url: str) -> Check:
        try:
            with open_url(url, method="GET", timeout=self.params["health_timeout"], follow_redirects="safe") as resp:
                return health_check(url, resp.status, None)
        except urllib.error.HTTPError as exc:
            return health_check(url, exc.code, None)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return health_check(url, None, str(getattr(exc, "reason", exc)))

    def container(self, name: str) -> Check:
        raw = self._module(DOCKER_INFO, {**(self.params["docker"] or {}), "name": name})
        self._warn(raw)
        if raw.get("failed"):
            if self.polls == 0:
                raise OptionFailure(f"cannot inspect container {name}: {raw.get('msg')}", "containers")
            return Check("container", name, False, "unknown", f"cannot inspect container {name}: {raw.get('msg')}",
                         f"docker_container_info name={name}", "inspectable")
        state = container_state(raw.get("container") if raw.get("exists") else None)
        if name not in self.first_state:
            self.first_state[name] = state
            return container_check(name, None, state)
        return container_check(name, self.first_state[name], state)


def _clean(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items()
            if not key.startswith("_ansible") and key not in ("invocation", "changed", "failed")}
