# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users get it: resolvable from a checkout, buildable, installable."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def ansible(tool: str, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), **(env or {})}
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_galaxy_metadata_matches_the_contract():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"], galaxy["version"]) == ("progressive", "delivery", "0.1.0")
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert set(galaxy["dependencies"]) == {"community.docker", "kubernetes.core"}
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.19.0"
    assert "all" in runtime["action_groups"]


def test_ansible_doc_lists_the_collection_from_a_checkout():
    out = ansible("ansible-doc", "-l", "progressive.delivery", "--json")
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout)
    plugin_dir = ROOT / "plugins" / "modules"
    expected = {f"progressive.delivery.{p.stem}" for p in plugin_dir.glob("*.py") if not p.name.startswith("_")}
    assert set(modules) == expected


def test_build_and_install_the_collection(tmp_path):
    built = ansible("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT))
    assert built.returncode == 0, built.stderr
    tarball = tmp_path / "progressive-delivery-0.1.0.tar.gz"
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md"} <= names
    assert not any(n.startswith((".lab", ".venv", ".build", ".cache")) for n in names), "build_ignore leaks"
    dest = tmp_path / "collections"
    installed = ansible("ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", str(dest),
                        str(tarball), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    manifest = json.loads((dest / "ansible_collections" / "progressive" / "delivery" / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["version"] == "0.1.0"
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(f"[defaults]\ncollections_path = {dest}\n")
    listed = ansible("ansible-galaxy", "collection", "list", "progressive.delivery", "--format", "json", cwd=tmp_path,
                     env={"ANSIBLE_CONFIG": str(cfg)})
    assert listed.returncode == 0, listed.stderr
    paths = json.loads(listed.stdout)
    assert paths == {str(dest / "ansible_collections"): {"progressive.delivery": {"version": "0.1.0"}}}


def test_dependencies_come_with_the_ansible_package():
    out = ansible("ansible-galaxy", "collection", "list", "--format", "json")
    assert out.returncode == 0, out.stderr
    found = {name for paths in json.loads(out.stdout).values() for name in paths}
    assert {"community.docker", "kubernetes.core"} <= found
