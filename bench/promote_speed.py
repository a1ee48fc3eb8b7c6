# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How fast image_promote promotes a ~50 MB image, next to ``skopeo copy`` in the same run. Prints numbers.

    .venv/bin/python bench/promote_speed.py [--runs 3] [--size-mb 50]

Needs the lab (``make lab-up``: registries on 127.0.0.1:15000 and :15001 with auth), Docker and skopeo. Builds a
one-layer image of ``--size-mb`` MB of random data (``docker import``), pushes it to the plain registry, then times:

* retag in the same repository (image_promote: one manifest GET + PUT; independent of the image size),
* promotion to another repository of the same registry (cross-repository mounts),
* copy to the other registry (auth), fresh repository each run so every blob really travels,

for image_promote (library call in-process, i.e. without ansible-playbook start-up; one ansible-playbook run is
timed too) and for ``skopeo copy``. Fresh repositories are used every run (``bench-<random>/...``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".build"))

from ansible_collections.progressive.delivery.plugins.modules import image_promote  # noqa: E402

from tests.lab import lab as labmod  # noqa: E402

PLAIN = f"127.0.0.1:{labmod.ports()['registry']}"
SECURED = f"127.0.0.1:{labmod.ports()['registry_auth']}"
CREDS = f"{labmod.REGISTRY_USER}:{labmod.REGISTRY_PASSWORD}"


def build_image(size_mb: int, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="promote-bench-") as tmp:
        payload = Path(tmp) / "payload.bin"
        with open(payload, "wb") as handle:
            for _block in range(size_mb):
                handle.write(os.urandom(1024 * 1024))
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(payload, arcname="payload.bin")
        subprocess.run(["docker", "import", str(archive), tag], check=True, capture_output=True)
    subprocess.run(["docker", "push", tag], check=True, capture_output=True)


def params(source: str, destination: str) -> dict[str, Any]:
    spec = image_promote.argument_spec()
    values = {name: option.get("default") for name, option in spec.items()}
    values.update(source=source, destination=[destination],
                  registry_auth={SECURED: {"username": labmod.REGISTRY_USER, "password": labmod.REGISTRY_PASSWORD}})
    return values


def promote(source: str, destination: str) -> tuple[float, dict[str, Any]]:
    module = SimpleNamespace(params=params(source, destination), check_mode=False)
    start = time.perf_counter()
    result = image_promote.run(module)  # type: ignore[arg-type]
    return time.perf_counter() - start, result


def skopeo(source: str, destination: str) -> float:
    cmd = ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
           f"docker://{source}", f"docker://{destination}"]
    if destination.startswith(SECURED):
        cmd[2:2] = ["--dest-creds", CREDS]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def playbook_once(source: str, destination: str) -> float:
    from tests.integration.prom_helpers import run_playbook
    task = {"source": source, "destination": destination}
    run = run_playbook([{"name": "p", "progressive.delivery.image_promote": task}])
    assert run["p"].get("changed"), run["p"]
    return run.duration


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.3f}" for value in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("skopeo"):
        print("skopeo not found (apt-get install -y skopeo)", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:8]
    big = f"{PLAIN}/bench-{run_id}/big:v1"
    demo = f"{PLAIN}/demo-app:latest"
    t0 = time.perf_counter()
    build_image(args.size_mb, big)
    print(f"built and pushed {big} ({args.size_mb} MB random layer) in {time.perf_counter() - t0:.1f}s")
    _elapsed, probe = promote(big, f"{PLAIN}/bench-{run_id}/big:probe")
    print(f"image digest {probe['digest']}")

    rows: dict[str, dict[str, list[float]]] = {}
    copied: list[int] = []
    for n in range(args.runs):
        ns = f"bench-{run_id}-{n}"
        # A fresh image per run (new random data): neither tool has seen its blobs on the other registry, so
        # skopeo's blob-info cache cannot turn the cross-registry copy into a mount.
        fresh = f"{PLAIN}/{ns}/src:v1"
        build_image(args.size_mb, fresh)
        cases = {
            "retag, same repository (demo-app, 15 MB)": (
                demo, f"{PLAIN}/demo-app:bench-{run_id}-{n}", f"{PLAIN}/demo-app:bench-{run_id}-{n}-skopeo"),
            f"retag, same repository ({args.size_mb} MB)": (big, f"{PLAIN}/bench-{run_id}/big:r{n}",
                                                            f"{PLAIN}/bench-{run_id}/big:r{n}-skopeo"),
            "other repository, same registry": (fresh, f"{PLAIN}/{ns}/mounted:v1", f"{PLAIN}/{ns}/mounted-s:v1"),
            "other registry (auth), all blobs": (fresh, f"{SECURED}/{ns}/big:v1", f"{SECURED}/{ns}/big-s:v1"),
        }
        for name, (source, ours, theirs) in cases.items():
            row = rows.setdefault(name, {"ours": [], "skopeo": []})
            if n % 2:  # alternate who goes first
                row["skopeo"].append(skopeo(source, theirs))
            elapsed, result = promote(source, ours)
            row["ours"].append(elapsed)
            if not n % 2:
                row["skopeo"].append(skopeo(source, theirs))
            if name.startswith("other registry"):
                copied.append(result["bytes_copied"])
    pb = playbook_once(big, f"{PLAIN}/bench-{run_id}/big:playbook")

    print(f"\n{args.runs} runs each, seconds (median; all runs)")
    print("| case | image_promote | skopeo copy |\n|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {median(row['ours']):.3f} ({fmt(row['ours'])}) | "
              f"{median(row['skopeo']):.3f} ({fmt(row['skopeo'])}) |")
    size = median(copied) / 1e6
    cross = rows["other registry (auth), all blobs"]
    print(f"\ncross-registry throughput ({size:.1f} MB of blobs): image_promote "
          f"{size / median(cross['ours']):.0f} MB/s, skopeo {size / median(cross['skopeo']):.0f} MB/s")
    print(f"one ansible-playbook run (retag of the {args.size_mb} MB image, process start-up included): {pb:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
