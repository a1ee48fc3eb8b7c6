# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # The shared state store of deploy_lock, qos_guard and release_record.
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
    type: path
    default: /var/lib/progressive_delivery
"""
