#!/usr/bin/env bash
# Install what `make test` needs on a Debian 12 machine: the lab's servers (apt) and the
# Python virtualenv (.venv). Idempotent: does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  nginx-light libnginx-mod-http-lua haproxy
  prometheus prometheus-pushgateway prometheus-alertmanager
  docker-registry apache2-utils postgresql postgresql-client docker.io
  python3-venv rsync curl git iproute2 ca-certificates wrk
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Debian packages ship init scripts that must not start system-wide copies of the lab's servers.
  [ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm installs gitlab-ci-local and Node 22 for the GitLab e2e tests (scripts/gitlab-ci-local.sh); any npm will do,
# so a machine that already has one (Debian's or another) keeps it.
if ! command -v npm >/dev/null 2>&1; then
  echo "bootstrap: installing npm (for gitlab-ci-local)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

PYTHON=${PYTHON:-python3}
stamp=.venv/.installed
reqhash=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$reqhash" ]; then
  echo "bootstrap: creating .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  echo "$reqhash" > "$stamp"
fi

# Working from a checkout: progressive.delivery resolves to this tree (see ansible.cfg).
mkdir -p .build/ansible_collections/progressive
ln -sfn ../../.. .build/ansible_collections/progressive/delivery
