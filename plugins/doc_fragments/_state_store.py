# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # The shared state store of deploy_lock, qos_guard and release_record (the action group `state`).
    # Keep in sync with DEFAULT_STORE_DIR in plugins/module_utils/_state_store.py.
    DOCUMENTATION = r"""
options:
  store_dir:
    description:
      - Directory of the shared state store, on the host that runs the task. C(deploy_lock) keeps its records under
        C(lock/), C(qos_guard) under C(guard/), C(release_record) under C(release/), one JSON file per record
        (its name percent-encoded, so C(prod-kr/app) is C(prod-kr%2Fapp.json) and no name can leave the directory).
      - Every run that must see the same lock, guard or release record (a laptop, AWX, a GitLab job) has to use the
        same directory on the same host, for example with C(delegate_to) a shared deploy host and C(run_once), or
        a directory on a shared filesystem that supports C(flock) (local filesystems, NFSv4).
      - Created (mode 0755) when missing. Files are written atomically (temporary file, fsync, rename) and carry a
        checksum; a corrupt or truncated file fails the task with its path and is never trusted.
      - A failure because this directory cannot be created, opened or locked names it (C(option=store_dir)).
      - Ignored with O(state_backend=postgres).
    type: path
    default: /var/lib/progressive_delivery
  state_backend:
    description:
      - Where the state store keeps its records. V(file) is a directory on the host that runs the task
        (O(store_dir)). V(postgres) is the C(delivery_state) table of the PostgreSQL database at O(state_dsn), which
        every entry point (a laptop, AWX, GitLab runners) reaches without C(delegate_to); O(store_dir) is then
        ignored.
      - Both backends have the same semantics. See C(docs/state.md) in the collection for what each guarantees and
        how to move from V(file) to V(postgres).
      - Set it once for a play with C(module_defaults) of the action group C(group/progressive.delivery.state)
        (inventory variable C(delivery_state_backend)).
    type: str
    choices: [file, postgres]
    default: file
    version_added: 0.2.0
  state_dsn:
    description:
      - The libpq connection string of the PostgreSQL state store, a URI
        (V(postgresql://user:password@db.example.com:5432/delivery)) or C(key=value) pairs. Required with
        O(state_backend=postgres), ignored otherwise. The password may also come from C(PGPASSWORD) or a
        C(.pgpass) file.
      - The tables are created on first write when missing (the role then needs C(CREATE) on the schema; or create
        them beforehand as C(docs/state.md) shows).
      - Never logged (C(no_log)). Errors name the server's host and port, never the password.
    type: str
    version_added: 0.2.0
"""
