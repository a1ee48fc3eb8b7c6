# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash-safe file writes, shared by the state store and the router adapters.

A reader sees the old file or the new one, never a mix: the data goes to a temporary file in the same
directory, which is fsynced, renamed over (or linked to) the target, and then the directory is fsynced.

Why not ``AnsibleModule.atomic_move``: it renames without fsyncing the file or the directory (a power loss after
the task reported success can bring the old weights or an empty lock back), it falls back to a non-atomic copy
across devices, and it cannot create a file only if it does not exist (the state store's ``link`` for exactly one
lock winner). What it adds is SELinux contexts: the files written here are ours (state store, HAProxy server-state
file, nginx upstream include), created next to their previous version, and ``os.replace`` of a file created in
the same directory inherits that directory's default context, which is what atomic_move would set as well.
"""
from __future__ import annotations

import contextlib
import os
import tempfile


def write_temp(directory: str, prefix: str, data: str | bytes, mode: int = 0o644) -> str:
    """A fsynced temporary file in ``directory`` holding ``data``; the caller renames or links it."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        unlink_quietly(tmp)
        raise
    return tmp


def fsync_directory(directory: str) -> None:
    """Make a rename or link in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    """Remove a temporary file on a failure path; a second failure must not hide the first."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_atomic(path: str, data: str | bytes, like: os.stat_result | None = None) -> None:
    """Replace ``path`` atomically. The new file keeps the mode (and, as root, the owner) of ``like``, else of
    the file it replaces, else 0644."""
    directory = os.path.dirname(os.path.abspath(path))
    if like is None and os.path.exists(path):
        like = os.stat(path)
    tmp = write_temp(directory, f".{os.path.basename(path)}.", data, like.st_mode & 0o7777 if like else 0o644)
    try:
        if like is not None:
            with contextlib.suppress(PermissionError):  # not root: the file keeps our ownership
                os.chown(tmp, like.st_uid, like.st_gid)
        os.replace(tmp, path)
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_directory(directory)
