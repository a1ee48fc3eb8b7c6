# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations


class ModuleDocFragment:
    # nginx options of canary_shift (adapters nginx.py and nginx_runtime.py).
    # Keep in sync with NginxRouter.argument_spec() in plugins/module_utils/_routers/nginx.py.
    DOCUMENTATION = r"""
options:
  upstream:
    description:
      - Name of the nginx upstream whose servers are weighted (C(upstream NAME { ... })).
      - Required when O(router=nginx).
    type: str
  nginx_mode:
    description:
      - How weights reach nginx.
      - V(reload) (stock nginx) renders O(upstream) in O(nginx_upstream_file), runs C(nginx -t) and only then reloads
        nginx (SIGHUP to the master). A reload closes idle keep-alive connections.
      - V(runtime) changes weights without any reload through the admin endpoint O(nginx_admin_url) of the
        runtime configuration (C(lua_shared_dict) plus C(balancer_by_lua_block); needs the nginx Lua module and
        lua-resty-core, Debian C(libnginx-mod-http-lua)). The collection ships it as C(files/nginx/runtime.conf.j2)
        (a template to include in C(http {})) and C(files/nginx/progressive_delivery.lua); see
        C(docs/routers/nginx.md).
    type: str
    choices: [reload, runtime]
    default: reload
  nginx_upstream_file:
    description:
      - The include file that holds O(upstream), owned by the module in O(nginx_mode=reload).
      - The alias O(upstream_file) is deprecated and will be removed in 2.0.0 (options that only one router
        reads carry its name, see C(docs/architecture.md)). It must exist and
        contain the upstream block; the module rewrites that block only (other blocks and text stay as they
        are), atomically (temporary file, fsync, rename), keeping the file's mode and owner.
      - The previous content is kept next to it as C(.<name>.bak) (a hidden file, which an C(include dir/*.conf)
        glob never matches).
      - Servers are written as C(server ADDRESS weight=N;), weight 0 as C(server ADDRESS down;) (nginx rejects
        C(weight=0)). Other server parameters such as C(max_fails=) are kept.
      - Required when O(router=nginx) and O(nginx_mode=reload).
    type: path
    aliases: [upstream_file]
  nginx_binary:
    description:
      - The nginx executable used for C(nginx -t) (run as C(nginx -T), which also prints the configuration the
        module reads the C(pid) directive from) and C(nginx -V), through Ansible's C(run_command).
    type: str
    default: nginx
  nginx_args:
    description:
      - Arguments given to every O(nginx_binary) call, so that it tests the configuration of the running
        instance, for example V(-p /srv/nginx -c /srv/nginx/nginx.conf) (C(-e ERRLOG) too if the instance was
        started with it).
      - A string (split like a shell does) or a list of arguments.
    type: raw
  nginx_pid_file:
    description:
      - The nginx master's pid file. The master is reloaded with SIGHUP and its workers (children in C(/proc))
        show that the reload happened.
      - Default is the C(pid) directive of the tested configuration, else the compiled-in C(--pid-path).
    type: path
  nginx_upstream_options:
    description:
      - Directives other than C(server) that the rendered upstream block contains, one per item, without the
        trailing semicolon, for example V(keepalive 16) or V(least_conn).
      - When not given, the directives found in the current block are kept.
      - Applied when the weights change (a run with the same weights changes nothing).
    type: list
    elements: str
  nginx_admin_url:
    description:
      - Base URL of the admin listener of the runtime configuration, for example V(http://127.0.0.1:8089); the module
        uses C(GET) and C(PUT) on C(<url>/upstreams/<upstream>) (JSON).
      - Keep the listener on loopback; it has no authentication. Only C(http://) URLs are accepted (an optional
        path prefix is kept); https, credentials and query strings are refused.
      - Required when O(router=nginx) and O(nginx_mode=runtime).
    type: str
  nginx_timeout:
    description:
      - Seconds to wait for new nginx workers after a reload (the reload counts as failed, and the file is
        restored, when none appear in time), and for each answer of the admin endpoint.
    type: float
    default: 10
"""
