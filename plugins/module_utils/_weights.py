# Copyright (c) 2026, progressive.delivery contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Weight arithmetic for traffic shifting between two pools (pure logic, no I/O).

``weight`` is the canary pool's share of requests in percent (0-100), whatever the number of servers in each
pool. Routers weigh servers, not pools, so the share is spread evenly across a pool's servers and turned into
integer per-server weights on the router's own scale (HAProxy 0-256, nginx 1-..., Istio 0-100 per destination).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def server_weights(weight: int, stable: Sequence[str], canary: Sequence[str], max_weight: int,
                   reduce: bool = True) -> dict[str, int]:
    """Per-server integer weights (0..max_weight) that give the canary pool ``weight`` percent of requests.

    The exact ratio is canary_server : stable_server = weight * len(stable) : (100 - weight) * len(canary);
    it is reduced by the gcd (unless ``reduce`` is false: routers that store percentages keep 75 : 25) and
    scaled down to fit ``max_weight`` only when it has to be (rounding then keeps every non-zero share at least
    1, so a 1% canary never rounds to nothing).
    """
    if not 0 <= weight <= 100:
        raise ValueError(f"weight must be between 0 and 100, got {weight}")
    if not stable and not canary:
        raise ValueError("both pools are empty: give at least one server in stable or canary")
    if (weight > 0 and not canary) or (weight < 100 and not stable):
        empty = "canary" if weight > 0 and not canary else "stable"
        raise ValueError(f"the {empty} pool is empty but weight {weight} sends it traffic")
    canary_each = weight * max(len(stable), 1)
    stable_each = (100 - weight) * max(len(canary), 1)
    divisor = (math.gcd(canary_each, stable_each) or 1) if reduce else 1
    canary_each, stable_each = canary_each // divisor, stable_each // divisor
    largest = max(canary_each, stable_each)
    if largest > max_weight:
        canary_each = _scaled(canary_each, largest, max_weight)
        stable_each = _scaled(stable_each, largest, max_weight)
    weights = {server: stable_each for server in stable}
    weights.update({server: canary_each for server in canary})
    return weights


def _scaled(value: int, largest: int, max_weight: int) -> int:
    if value == 0:
        return 0
    return max(1, round(value * max_weight / largest))


def canary_share(weights: Mapping[str, int], canary: Sequence[str]) -> int | None:
    """The canary pool's share of requests in percent (rounded), or None when every server has weight 0."""
    total = sum(weights.values())
    if total <= 0:
        return None
    return round(100 * sum(weights.get(server, 0) for server in canary) / total)


def same_split(current: Mapping[str, int], target: Mapping[str, int]) -> bool:
    """Whether ``current`` already sends each member the share ``target`` asks for (weights 2:2 split as 1:1).

    A router whose traffic is already right is left alone, whatever units its weights are stored in.
    """
    if set(current) != set(target):
        return False
    current_total, target_total = sum(current.values()), sum(target.values())
    if current_total <= 0 or target_total <= 0:
        return current_total == target_total == 0
    return all(current[member] * target_total == target[member] * current_total for member in target)


def make_before_break(before: Mapping[str, int], after: Mapping[str, int]) -> list[tuple[str, int]]:
    """Ordered (server, weight) updates: first every server that gains, then every server that loses.

    Applied one by one, the total weight never drops below min(total before, total after), so there is no
    moment at which every server of the backend has weight 0 (as long as neither end state is all zero).
    """
    gains = [(server, weight) for server, weight in after.items() if weight > before.get(server, 0)]
    losses = [(server, weight) for server, weight in after.items() if weight < before.get(server, 0)]
    return gains + losses


def explicit_weights(weights: Mapping[str, object], members: Sequence[str]) -> dict[str, int]:
    """An explicit member -> weight map (canary_shift's ``weights``), checked against the pools' ``members``.

    Keys must be exactly the members; values non-negative integers (digit strings, as a template gives them, are
    accepted); at least one weight above 0. Returned in the order of ``members``.
    """
    missing = [member for member in members if member not in weights]
    unknown = [str(member) for member in weights if member not in members]
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
            ([f"not in stable or canary: {', '.join(unknown)}"] if unknown else [])
        raise ValueError(f"give a weight for every member of stable and canary and nothing else ({'; '.join(parts)})")
    result: dict[str, int] = {}
    for member in members:
        value = weights[member]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"the weight of {member} must be a non-negative integer, got {value!r}")
        result[member] = value
    if not any(result.values()):
        raise ValueError("every member would have weight 0 (no server would get requests)")
    return result
