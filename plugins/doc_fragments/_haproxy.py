# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # haproxy options of canary_shift
    DOCUMENTATION = r"""
options:
  haproxy_socket:
    description:
      - Path of HAProxy's runtime API UNIX socket, as in the C(stats socket <path> level admin) global line.
      - The socket needs C(level admin) (C(set weight)). Each command uses its own connection.
      - Required when O(router=haproxy); a socket that does not exist or refuses connections is an error naming
        this path, before anything is changed.
    type: path
  backend:
    description:
      - Name of the HAProxy backend that holds the servers of O(stable) and O(canary).
      - Required when O(router=haproxy). An unknown backend is an error that lists the backends HAProxy has.
      - The backend needs a dynamic load-balancing algorithm (for example C(roundrobin), C(leastconn), or
        C(hash-type consistent)); C(static-rr) and map-based hashing only accept weights 0% and 100%, and the
        change is then rolled back with HAProxy's message.
    type: str
  haproxy_state_file:
    description:
      - Path of the file named by HAProxy's C(server-state-file) global (joined to C(server-state-base) if that is
        set). After every change the module writes C(show servers state) (all backends) there atomically, so that
        a reload started with C(load-server-state-from-file global) keeps the new weights.
      - HAProxy does not report this path through the runtime API, hence the option.
      - Without it, weights are set at run time only and the next reload or restart puts back the weights of the
        configuration.
      - HAProxy applies a saved weight only while the server's weight in the configuration is unchanged; editing
        C(weight) in the configuration wins over the saved state.
      - Its directory must be writable by the task; this is checked before any weight is changed.
    type: path
  haproxy_timeout:
    description:
      - Seconds to wait for HAProxy to answer one runtime API command.
    type: float
    default: 5.0
"""
