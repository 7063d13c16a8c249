"""The nemesis registry: each nemesis is a function marked with ``@nemesis`` (in the spirit of
hypothesis's ``@rule`` markers), collected by name so schedules, ``--nemesis list`` and the
hypothesis strategies all read one table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A nemesis gets (context, resolved target, params) and returns the function that heals it.
Heal = Callable[[], None]
Start = Callable[[Any, str, dict[str, Any]], Heal]
ParamsCheck = Callable[[dict[str, Any]], None]  # raises UsageError naming the bad parameter


@dataclass(frozen=True)
class NemesisSpec:
    name: str
    description: str
    default_target: str
    start: Start
    needs_transactions: bool = False
    check_params: ParamsCheck | None = None
    # drawn by --swarm from the whole catalog; False: only when named with --nemesis (the clock
    # nemeses, added after the swarm pool was fixed, so existing swarm seeds replay unchanged)
    in_swarm_pool: bool = True


REGISTRY: dict[str, NemesisSpec] = {}


def nemesis(
    name: str,
    description: str,
    target: str,
    needs_transactions: bool = False,
    check_params: ParamsCheck | None = None,
    in_swarm_pool: bool = True,
) -> Callable[[Start], Start]:
    def mark(fn: Start) -> Start:
        REGISTRY[name] = NemesisSpec(
            name, description, target, fn, needs_transactions, check_params, in_swarm_pool
        )
        return fn

    return mark
