# -*- coding: utf-8 -*-
# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # Connection options of modules that talk to PostgreSQL (schema_migrate).
    # Keep in sync with postgres_argument_spec() in plugins/module_utils/_migrations.py, and the requirement with
    # PSYCOPG in plugins/module_utils/_deps.py (the module checks it with _deps.require).
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server, or the directory of its unix socket.
      - Ignored when O(dsn) is given.
    type: str
    default: localhost
  login_port:
    description:
      - TCP port of the PostgreSQL server (also the number in the unix socket's name).
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as. Needs the privileges the migration files use, and to create the version table.
    type: str
  login_password:
    description:
      - Password of O(login_user).
      - Never logged or returned.
    type: str
  login_db:
    description:
      - Database to migrate.
    type: str
  dsn:
    description:
      - A libpq connection string or URI (V(postgresql://user:password@host:5432/db?sslmode=verify-full)),
        instead of O(login_host), O(login_port), O(login_user), O(login_password) and O(login_db).
      - Never logged or returned, nor is the password in it.
    type: str
  connect_timeout:
    description:
      - Seconds to wait for the connection to the server.
    type: int
    default: 10
requirements:
  - psycopg >= 3.1 (the Python library, on the host that runs the module)
"""
