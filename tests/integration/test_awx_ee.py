# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment (execution-environment.yml) as ansible-builder turns it into a build context.

Building the image needs registries this machine cannot reach, so the check is ``ansible-builder create``: the
Containerfile it writes, the requirement files it copies, the collection installed from that context the way the
image's galaxy stage installs it, and the merged requirements the image's builder stage would install (the
context's own introspect.py run over that installed collection).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EE_FILE = ROOT / "execution-environment.yml"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_CONFIG"}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def create(definition: Path, context: Path) -> subprocess.CompletedProcess:
    return run(str(BIN / "ansible-builder"), "create", "-f", str(definition), "-c", str(context),
               "--output-filename", "Containerfile")


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("ee") / "context"
    result = create(EE_FILE, where)
    assert result.returncode == 0, result.stdout + result.stderr
    return where


@pytest.fixture(scope="module")
def installed(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """progressive.delivery installed from the context as the galaxy stage does (WORKDIR /build = _build)."""
    build = context / "_build"
    requirements = yaml.safe_load((build / "requirements.yml").read_text())
    local = [c for c in requirements["collections"] if c.get("type") == "dir"]
    only_local = build / "requirements-local.yml"
    only_local.write_text(yaml.safe_dump({"collections": local}))
    target = tmp_path_factory.mktemp("collections")
    # --no-deps: Galaxy is unreachable here; the dependencies are checked against galaxy.yml below
    result = run(str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-r", only_local.name,
                 "-p", str(target), cwd=build)
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def _requirements(text: str) -> dict[str, Requirement]:
    reqs = [Requirement(line.split("#")[0].strip()) for line in text.splitlines()
            if line.split("#")[0].strip() and not line.startswith("-")]
    return {r.name.lower(): r for r in reqs}


def _bindep(text: str) -> dict[str, str]:
    entries = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _space, profiles = line.partition(" ")
            entries[name] = profiles
    return entries


def test_containerfile_installs_python_core_and_runner(context: Path):
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    # ansible-core 2.19 needs Python >= 3.11: the image's interpreter is python3.11, installed by the package manager
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert 'ARG PYPKG="python3.11"' in containerfile
    assert 'ARG PKGMGR="/usr/bin/dnf"' in containerfile
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M)
    assert refs is not None
    assert set(refs.group(1).split()) == {"ansible-core>=2.19,<2.21", "ansible-runner>=2.4"}
    # the same ansible-core range as the collection's runtime requirements
    root = _requirements((ROOT / "requirements.txt").read_text())
    core = next(Requirement(ref) for ref in refs.group(1).split() if ref.startswith("ansible-core"))
    assert core.specifier == root["ansible-core"].specifier
    # the galaxy stage installs the collections from the context, the builder stage the Python and system packages
    assert "COPY _build /build" in containerfile
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", containerfile)
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "COPY _build/bindep.txt bindep.txt" in containerfile
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "RUN /output/scripts/install-from-bindep" in containerfile


def test_python_requirements_cover_the_collections_runtime(context: Path):
    ee = _requirements((context / "_build" / "requirements.txt").read_text())
    root = _requirements((ROOT / "requirements.txt").read_text())
    missing = {name for name in root if name != "ansible-core" and name not in ee}
    assert not missing, f"execution environment lacks runtime requirements: {missing}"
    for name, req in root.items():
        if name != "ansible-core":
            assert (ee[name].specifier, ee[name].extras) == (req.specifier, req.extras), name
    # the statistical judges of slo_check run in the execution environment (the controller side)
    assert "scipy" in ee


def test_system_requirements(context: Path):
    bindep = _bindep((context / "_build" / "bindep.txt").read_text())
    for needed in ("openssh-clients", "git-core", "tzdata", "ca-certificates"):
        assert bindep.get(needed) == "[platform:rpm]", needed
    # compilers only in the builder stage (the compile profile), not in the final image
    for build_only in ("gcc", "python3.11-devel", "libpq-devel"):
        assert "compile" in bindep[build_only], build_only


def test_collection_installs_from_the_context_with_its_dependencies(context: Path, installed: Path):
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    named = {c["name"]: c.get("version") for c in requirements if c.get("type") != "dir"}
    assert named == galaxy["dependencies"]

    collection = installed / "ansible_collections" / "progressive" / "delivery"
    manifest = json.loads((collection / "MANIFEST.json").read_text())
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("progressive", "delivery", galaxy["version"])
    assert info["dependencies"] == galaxy["dependencies"]
    # modules, shared code, roles and collection playbooks are in the image
    for path in ("plugins/modules/deploy_lock.py", "plugins/module_utils/_state_store.py",
                 "roles/deploy/tasks/main.yml", "playbooks/deploy.yml", "meta/runtime.yml"):
        assert (collection / path).is_file(), path
    # nothing of the developer's tree (tests, lab, virtualenv) is copied into the build context
    build = context / "_build" / "progressive.delivery"
    assert not any((build / name).exists() for name in ("tests", ".venv", ".lab", "bench", "molecule"))


def test_builder_stage_merges_the_requirements(context: Path, installed: Path, tmp_path: Path):
    """The builder stage's introspect.py, run as the Containerfile runs it, over the installed collections."""
    build = context / "_build"
    out_pip, out_bindep = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    result = run(sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(installed),
                 f"--user-pip={build / 'requirements.txt'}", f"--user-bindep={build / 'bindep.txt'}",
                 f"--write-pip={out_pip}", f"--write-bindep={out_bindep}")
    assert result.returncode == 0, result.stdout + result.stderr
    pip_lines = out_pip.read_text()
    for name in ("psycopg[binary]>=3.1", "kubernetes>=29.0", "docker>=7.0", "scipy>=1.11"):
        assert name in pip_lines, name
    assert "tzdata [platform:rpm]" in out_bindep.read_text()


def test_a_broken_definition_fails_create(tmp_path: Path):
    """The check has teeth: ansible-builder validates the v3 schema and the files it references."""
    definition = yaml.safe_load(EE_FILE.read_text())
    for name in ("awx", "galaxy.yml", "README.md", "meta", "plugins", "roles", "playbooks", "files"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    broken = dict(definition, dependencies=dict(definition["dependencies"], python="awx/ee/missing.txt"))
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    result = create(tmp_path / "broken.yml", tmp_path / "context-broken")
    assert result.returncode != 0
    assert "missing.txt" in result.stdout + result.stderr

    # a key the v3 schema does not have (a typo of `python`) is refused, not ignored
    unknown = dict(definition, dependencies=dict(definition["dependencies"], pyhton="awx/ee/requirements.txt"))
    (tmp_path / "unknown.yml").write_text(yaml.safe_dump(unknown))
    result = create(tmp_path / "unknown.yml", tmp_path / "context-unknown")
    assert result.returncode != 0
    assert "pyhton" in result.stdout + result.stderr

    # the same copy, unbroken, succeeds: the failures above are the defects, not the copy
    (tmp_path / "ok.yml").write_text(yaml.safe_dump(definition))
    assert create(tmp_path / "ok.yml", tmp_path / "context-ok").returncode == 0
