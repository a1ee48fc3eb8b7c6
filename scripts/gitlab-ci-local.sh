#!/usr/bin/env bash
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run gitlab-ci-local (https://github.com/firecow/gitlab-ci-local) with Node 22, both installed from the npm registry
# into a directory of this checkout (no global install, no sudo):
#   scripts/gitlab-ci-local.sh --list                  # in a directory with a .gitlab-ci.yml
#   scripts/gitlab-ci-local.sh --install-only          # install (or check) and exit
# The first run installs the npm packages `node@22` and `gitlab-ci-local` with `npm install --prefix` (it needs npm,
# any version, and the registry); later runs only check a stamp file and start at once.
#
# Environment:
#   GITLAB_CI_LOCAL_PREFIX   where to install (default: <checkout>/.build/gitlab-ci-local)
#   GITLAB_CI_LOCAL_VERSION  the gitlab-ci-local version (default below; pinned so that every machine runs the same)
#   GITLAB_CI_LOCAL_NODE     the npm package that provides Node (default: node@22)
#   NPM                      the npm binary (default: npm on PATH)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${GITLAB_CI_LOCAL_PREFIX:-$ROOT/.build/gitlab-ci-local}"
GCL_VERSION="${GITLAB_CI_LOCAL_VERSION:-4.75.1}"
NODE_PACKAGE="${GITLAB_CI_LOCAL_NODE:-node@22}"
NPM="${NPM:-npm}"
STAMP="$PREFIX/.installed"
WANT="gitlab-ci-local@$GCL_VERSION $NODE_PACKAGE"
NODE_BIN="$PREFIX/node_modules/node/bin/node"
GCL_PACKAGE="$PREFIX/node_modules/gitlab-ci-local"

die() {
  echo "gitlab-ci-local.sh: $*" >&2
  exit 2
}

installed() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$NODE_BIN" && -f "$GCL_PACKAGE/package.json" ]]
}

install() {
  command -v "$NPM" >/dev/null 2>&1 || die "npm not found (looked for '$NPM' on PATH). Install Node.js and npm first,
  e.g. on Debian/Ubuntu: sudo apt-get install -y nodejs npm (any version: npm only installs node@22 and
  gitlab-ci-local into $PREFIX), or set NPM=/path/to/npm."
  mkdir -p "$PREFIX"
  echo "gitlab-ci-local.sh: installing $WANT into $PREFIX (once) ..." >&2
  local log="$PREFIX/npm-install.log"
  if ! "$NPM" install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error \
      "$NODE_PACKAGE" "gitlab-ci-local@$GCL_VERSION" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "npm install of $WANT into $PREFIX failed (full log: $log). Check that the npm registry
  ($("$NPM" config get registry 2>/dev/null || echo '?')) is reachable, or set GITLAB_CI_LOCAL_VERSION."
  fi
  [[ -x "$NODE_BIN" ]] || die "npm installed $NODE_PACKAGE but $NODE_BIN is missing (its postinstall fetches the
  Node binary from the registry: see $log)"
  [[ -f "$GCL_PACKAGE/package.json" ]] || die "npm did not install gitlab-ci-local into $GCL_PACKAGE (see $log)"
  "$NODE_BIN" --version >/dev/null 2>&1 || die "$NODE_BIN does not run on this machine (see $log)"
  echo "$WANT" >"$STAMP"
}

if ! installed; then
  mkdir -p "$PREFIX"
  # one installer at a time (parallel test workers); the others wait and then find it installed
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$PREFIX/.lock"
    flock 9
  fi
  installed || install
fi

# The package's own entry point ("bin" in its package.json), run with Node 22 from the prefix: gitlab-ci-local
# needs Node >= 22 whatever `node` is on PATH. Its jobs run `node` from PATH (the machine's), not this one.
ENTRY="$("$NODE_BIN" -e '
  const pkg = require(process.argv[1] + "/package.json");
  const bin = typeof pkg.bin === "string" ? pkg.bin : (pkg.bin["gitlab-ci-local"] || Object.values(pkg.bin)[0]);
  process.stdout.write(require("path").join(process.argv[1], bin));
' "$GCL_PACKAGE")" || die "cannot read the entry point of $GCL_PACKAGE/package.json"

if [[ "${1:-}" == "--install-only" ]]; then
  echo "gitlab-ci-local $("$NODE_BIN" "$ENTRY" --version) with Node $("$NODE_BIN" --version) in $PREFIX"
  exit 0
fi
exec "$NODE_BIN" "$ENTRY" "$@"
