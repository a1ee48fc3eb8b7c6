# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small load generator for the release scenarios (canary, blue_green, deploy): about RATE requests/s to URL,
in the background.

    python load.py --url http://127.0.0.1:18080/ --rate 40 --pidfile P --stats S [--max-seconds 600]

Detaches (double fork), writes its PID to P and, every half second, what answered to S as JSON:
{"answers": {"<version> <status>": n}, "errors": {"<exception>": n}, "total": n}. Stops on SIGTERM, or by itself
after --max-seconds (so a scenario that never reached destroy leaves nothing running). Standard library only.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pidfile", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    args = parser.parse_args()

    if os.fork():  # the caller returns at once; the grandchild runs detached
        return 0
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)

    stop = threading.Event()
    lock = threading.Lock()
    answers: collections.Counter = collections.Counter()
    errors: collections.Counter = collections.Counter()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def worker() -> None:
        interval = args.workers / args.rate
        while not stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(args.url, timeout=5) as resp:
                    key = f"{json.loads(resp.read()).get('version', '?')} {resp.status}"
            except urllib.error.HTTPError as exc:
                key = f"? {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                stop.wait(max(0.0, interval - (time.monotonic() - started)))
                continue
            with lock:
                answers[key] += 1
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def dump() -> None:
        with lock:
            data = {"answers": dict(answers), "errors": dict(errors),
                    "total": sum(answers.values()) + sum(errors.values())}
        tmp = args.stats + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, args.stats)

    with open(args.pidfile, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    threads = [threading.Thread(target=worker, daemon=True) for _worker in range(args.workers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + args.max_seconds
    while not stop.is_set() and time.monotonic() < deadline:
        dump()
        stop.wait(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=6)
    dump()
    os.unlink(args.pidfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
