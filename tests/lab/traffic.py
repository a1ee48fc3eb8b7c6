# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one client that sends requests through a router while a release runs: the e2e tests, `make demo` and the
benches use it. About `rate` requests/s from `workers` threads; it counts every answer by (version, status), every
request that got no answer by the exception's name, and, with `keep_log`, keeps (start, version, status) per request
(status 0 when there was no answer) for the benches' timelines."""
from __future__ import annotations

import collections
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Traffic:
    url: str
    rate: float = 40.0
    workers: int = 4
    keep_log: bool = False
    answers: collections.Counter = field(default_factory=collections.Counter)  # (version, status) -> n
    errors: collections.Counter = field(default_factory=collections.Counter)  # exception name -> n
    log: list[tuple[float, str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list = field(default_factory=list)

    def _one(self) -> tuple[str, int, str | None]:
        """(version, status, the exception's name when there was no answer)."""
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                return json.loads(resp.read()).get("version", "?"), resp.status, None
        except urllib.error.HTTPError as exc:  # an answer with an error status: whose?
            try:
                return json.loads(exc.read()).get("version", "?"), exc.code, None
            except ValueError:
                return "?", exc.code, None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"error:{type(exc).__name__}", 0, type(exc).__name__

    def _run(self) -> None:
        interval = self.workers / self.rate
        while not self._stop.is_set():
            started = time.monotonic()
            version, status, error = self._one()
            with self._lock:
                if error is None:
                    self.answers[(version, status)] += 1
                else:
                    self.errors[error] += 1
                if self.keep_log:
                    self.log.append((started, version, status))
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def start(self) -> Traffic:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _worker in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def failed(self, except_version: str | None = None) -> int:
        """Requests that did not get a 200, other than the deliberate 500s of a bad release ``except_version``."""
        with self._lock:
            bad = sum(n for (version, code), n in self.answers.items() if code != 200 and version != except_version)
            return bad + sum(self.errors.values())

    def by_version(self, status: int | None = None) -> dict[str, int]:
        """Answers per version (only those with ``status`` when given)."""
        out: collections.Counter = collections.Counter()
        with self._lock:
            for (version, code), n in self.answers.items():
                if status is None or code == status:
                    out[version] += n
        return dict(out)

    def error_answers(self) -> dict[str, int]:
        """Answers with an error status, per version that gave them."""
        out: collections.Counter = collections.Counter()
        with self._lock:
            for (version, code), n in self.answers.items():
                if code != 200:
                    out[version] += n
        return dict(out)

    def unanswered(self) -> int:
        with self._lock:
            return sum(self.errors.values())

    def snapshot(self) -> tuple[dict[str, int], int]:
        """(200 answers per version, requests without an answer): what `make demo` narrates."""
        return self.by_version(200), self.unanswered()
