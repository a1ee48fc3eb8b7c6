# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as the API server applies them to custom resources."""
from __future__ import annotations

import copy
from typing import Any


class PatchError(Exception):
    """A patch that cannot be applied (the API server answers 422), or cannot be decoded (400) if ``bad_request``."""

    def __init__(self, message: str, bad_request: bool = False) -> None:
        super().__init__(message)
        self.bad_request = bad_request


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 with the operations add, remove, replace, move, copy and test."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", bad_request=True)
    document = copy.deepcopy(document)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op, path = operation.get("op"), operation.get("path")
    if not isinstance(path, str):
        raise PatchError(f"missing path in operation {op!r}", bad_request=True)
    if op == "test":
        if _get(document, path) != operation.get("value"):
            raise PatchError(f"testing value {path} failed: test failed")
        return document
    if op == "remove":
        return _remove(document, path)
    if op in ("add", "replace"):
        if "value" not in operation:
            raise PatchError(f"missing value in {op} operation", bad_request=True)
        if op == "replace":
            _get(document, path)
            document = _remove(document, path)
        return _add(document, path, copy.deepcopy(operation["value"]))
    if op in ("move", "copy"):
        source = operation.get("from")
        if not isinstance(source, str):
            raise PatchError(f"missing from in {op} operation", bad_request=True)
        value = copy.deepcopy(_get(document, source))
        if op == "move":
            document = _remove(document, source)
        return _add(document, path, value)
    raise PatchError(f"Unexpected kind: {op}", bad_request=True)


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must be empty or start with a \"/\": {path}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _child(container: Any, token: str, path: str) -> Any:
    if isinstance(container, dict) and token in container:
        return container[token]
    if isinstance(container, list) and token.isdigit() and int(token) < len(container):
        return container[int(token)]
    raise PatchError(f"doc is missing path: \"{path}\": missing value")


def _get(document: Any, path: str) -> Any:
    for token in _tokens(path):
        document = _child(document, token, path)
    return document


def _parent(document: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise PatchError("cannot operate on the whole document")
    parent = document
    for token in tokens[:-1]:
        parent = _child(parent, token, path)
    return parent, tokens[-1]


def _add(document: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, token = _parent(document, path)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list) and (token == "-" or (token.isdigit() and int(token) <= len(parent))):
        parent.insert(len(parent) if token == "-" else int(token), value)
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: \"{path}\": missing value")
    return document


def _remove(document: Any, path: str) -> Any:
    parent, token = _parent(document, path)
    _child(parent, token, path)
    if isinstance(parent, dict):
        del parent[token]
    else:
        del parent[int(token)]
    return document
