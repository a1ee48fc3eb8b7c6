# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make demo`: real releases on the lab, with a narrative of what happened.

While a client sends about 40 requests/s through the lab's HAProxy:
  1. release 1 goes into the blue pool (blue-green: preview at 0 %, one switch);
  2. a good release 2 by canary (5 -> 25 -> 50 -> 100), promoted and tagged stable-kr;
  3. the same digest to JP (inventories/lab-jp, nginx) by blue-green, tagged stable-jp;
  4. a bad release 3 (30 % of its requests answer 500) rolled back automatically at the first step;
  5. a deploy refused while the QoS guard holds;
  6. playbooks/status.yml.
Every step is a real `ansible-playbook` run of the collection's playbooks against inventories/lab, in a state
directory of its own (.lab/demo-state, emptied first), so the demo can be run again.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.lab import lab as labmod  # noqa: E402  (the lab's ports and image)
from tests.lab.traffic import Traffic  # noqa: E402  (the one client of the e2e tests, the demo and the benches)

PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook") if (ROOT / ".venv" / "bin").exists() \
    else "ansible-playbook"
RATE = 40.0


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def playbook(name: str, *extra: str, log: Path, inventory: str = "lab") -> tuple[int, str, float]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    started = time.monotonic()
    proc = subprocess.run([PLAYBOOK, "-i", str(ROOT / "inventories" / inventory), str(ROOT / "playbooks" / name),
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    with log.open("a") as handle:
        handle.write(f"\n##### {name} {' '.join(extra)} (rc {proc.returncode}, {elapsed:.1f}s)\n")
        handle.write(proc.stdout + proc.stderr)
    return proc.returncode, proc.stdout, elapsed


def lines_with(text: str, *needles: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if any(needle in line for needle in needles)]


def image_digest_ref() -> str:
    tag = labmod.image_tag(labmod.ports()["registry"])
    registry, rest = tag.split("/", 1)
    repo, ref = rest.rsplit(":", 1)
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{ref}", method="HEAD", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return f"{registry}/{repo}@{resp.headers['Docker-Content-Digest']}"


def main() -> int:
    state = labmod.lab_dir() / "demo-state"
    shutil.rmtree(state, ignore_errors=True)
    log = labmod.lab_dir() / "demo.log"
    log.write_text("")
    common = ("-e", f"delivery_state_dir={state}")
    image = image_digest_ref()
    url = f"http://127.0.0.1:{labmod.ports()['haproxy']}/"
    print(f"progressive.delivery demo on the lab: HAProxy {url}, image {image}\n"
          f"full playbook output: {log}")
    started = time.monotonic()
    with Traffic(url, rate=RATE) as traffic:
        say("1. Release 2026.12.0+1 into the blue pool (blue-green: preview at 0 %, then one switch)")
        rc, out, took = playbook("deploy.yml", *common, "-e", f"delivery_image={image}",
                                 "-e", "delivery_version=2026.12.0+1", "-e", "delivery_strategy=blue_green",
                                 "-e", "delivery_initial_stable_pool=green", log=log)
        print(f"   {'promoted' if rc == 0 else 'FAILED'} in {took:.0f}s")
        if rc:
            print("\n".join(out.splitlines()[-30:]))
            return 1

        say("2. A good release 2026.12.1+2 to KR, then the same digest to JP, with one command (release.yml):\n"
            "   KR (HAProxy) by canary 5 % -> 25 % -> 50 % -> 100 %, JP (nginx, pools blue-jp/green-jp) by blue-green")
        with Traffic(f"http://127.0.0.1:{labmod.ports()['nginx_jp']}/", rate=RATE) as jp_traffic:
            rc, out, took = playbook("release.yml", *common, "-e", f"delivery_image={image}",
                                     "-e", "delivery_version=2026.12.1+2",
                                     "-e", "delivery_release_environments=lab,lab-jp", log=log, inventory="release")
            jp_counts, jp_failed = jp_traffic.snapshot()
        for line in lines_with(out, "analysis [step", "analysis [preview", "stable-kr", "stable-jp"):
            print(f"   {line[:200]}")
        print(f"   {'promoted in KR (stable-kr), then in JP (stable-jp), one digest' if rc == 0 else 'FAILED'} in "
              f"{took:.0f}s; JP clients: {sum(jp_counts.values())} answers {dict(sorted(jp_counts.items()))}, "
              f"{jp_failed} failed")
        if rc:
            print("\n".join(out.splitlines()[-30:]))
            return 1

        say("3. A bad release 2026.12.2+3: 30 % of its requests answer 500")
        before_counts, _failed = traffic.snapshot()
        rc, out, took = playbook("deploy.yml", *common, "-e", f"delivery_image={image}",
                                 "-e", "delivery_version=2026.12.2+3",
                                 "-e", '{"delivery_app_env": {"APP_ERROR_RATE": "0.3"}}', log=log)
        after_counts, _failed = traffic.snapshot()
        for line in lines_with(out, "analysis [step", "error_ratio ="):
            if not line.startswith(("[ERROR]", "fatal")):
                print(f"   {line[:220]}")
        bad = after_counts.get("2026.12.2+3", 0) - before_counts.get("2026.12.2+3", 0)
        print(f"   {'rolled back automatically' if rc != 0 and 'ROLLED BACK' in out else 'UNEXPECTED rc ' + str(rc)}"
              f" in {took:.0f}s; the bad release answered {bad} requests with 200 before it was taken out")

        say("4. Another deploy while the QoS guard holds")
        rc, out, took = playbook("deploy.yml", *common, "-e", f"delivery_image={image}",
                                 "-e", "delivery_version=2026.12.3+4", log=log)
        refused = re.findall(r'"msg": "(qos_guard[^"]*)"', out)
        print(f"   {'refused' if rc != 0 else 'UNEXPECTEDLY deployed'}: {(refused[-1] if refused else '')[:240]}")

        say("5. Status")
        rc, out, took = playbook("status.yml", *common, log=log)
        capture = False
        for line in out.splitlines():
            if "Status of" in line:
                capture = True
            elif capture and line.startswith("TASK"):
                break
            elif capture and line.strip().startswith('"') and not line.strip().startswith('"msg"'):
                text = line.strip().rstrip(",").strip('"').replace('\\"', '"')
                print(f"   {text[:160]}")
        counts, failed = traffic.snapshot()
        deliberate = sum(traffic.error_answers().values())
    total = sum(counts.values()) + failed + deliberate
    say(f"Done in {time.monotonic() - started:.0f}s: {total} requests through HAProxy; answered by version: "
        f"{dict(sorted(counts.items()))}; {deliberate} error answers, all from the bad release's injected 500s "
        f"({traffic.error_answers()}); {failed} requests failed otherwise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
