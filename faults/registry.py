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
# draws one fault's parameters for --swarm from the stream it is given
ParamsDraw = Callable[[Any], dict[str, Any]]
# narrows a --swarm draw to what one configuration can use: (params, config, rng) -> params
ParamsFit = Callable[[dict[str, Any], Any, Any], dict[str, Any]]


@dataclass(frozen=True)
class NemesisSpec:
    name: str
    description: str
    default_target: str
    start: Start
    needs_transactions: bool = False
    check_params: ParamsCheck | None = None
    # True: a role naming several nodes (``brokers``) hits each of them at the same instant
    # (otherwise only the first); False for the cluster-wide shapes that read the role whole.
    every_node: bool = False
    # False: left out of the ``--swarm`` pool of all kinds (drawn only when named)
    in_swarm_pool: bool = True
    # the targets ``--swarm`` draws from for this kind (its default target when empty)
    swarm_targets: tuple[str, ...] = ()
    # True: needs the KRaft quorum model (controller.quorum.voters > 1)
    needs_quorum: bool = False
    # how --swarm draws this kind's parameters (its defaults when None)
    swarm_params: ParamsDraw | None = None
    # in the ``--swarm`` pool only for configurations whose promise covers this fault (None:
    # always); e.g. power loss, which only an fsync-every-write configuration promises to survive
    swarm_if: Callable[[Any], bool] | None = None
    # how guided search redraws this kind's parameters (``swarm_params`` when None): apart
    # from swarm's, so that giving a kind a parameter space here leaves --swarm's plans alone
    search_params: ParamsDraw | None = None
    # True: an operator's admin request to the active controller (AlterPartitionReassignments,
    # ElectLeaders, registering a broker), skipped as NOT_CONTROLLER while there is none
    admin: bool = False
    # narrows a ``swarm_params`` draw to this configuration (a delayed request of a type its
    # clients send), so no swarm fault is spent on something the run never does
    swarm_fit: ParamsFit | None = None

    def in_pool_for(self, config: Any) -> bool:
        """Whether ``--swarm`` with no nemesis named may draw this kind for ``config``."""
        return (
            self.in_swarm_pool
            and (not self.needs_transactions or config.transactional)
            and (not self.needs_quorum or config.quorum_voters > 1)
            and (self.swarm_if is None or bool(self.swarm_if(config)))
        )

    @property
    def params_draw(self) -> ParamsDraw | None:
        """The draw guided search mutates this kind's parameters with, if it has one."""
        return self.search_params or self.swarm_params


REGISTRY: dict[str, NemesisSpec] = {}


def nemesis(
    name: str,
    description: str,
    target: str,
    needs_transactions: bool = False,
    check_params: ParamsCheck | None = None,
    every_node: bool = False,
    in_swarm_pool: bool = True,
    swarm_targets: tuple[str, ...] = (),
    needs_quorum: bool = False,
    swarm_params: ParamsDraw | None = None,
    swarm_if: Callable[[Any], bool] | None = None,
    search_params: ParamsDraw | None = None,
    admin: bool = False,
    swarm_fit: ParamsFit | None = None,
) -> Callable[[Start], Start]:
    def mark(fn: Start) -> Start:
        REGISTRY[name] = NemesisSpec(
            name,
            description,
            target,
            fn,
            needs_transactions,
            check_params,
            every_node,
            in_swarm_pool,
            swarm_targets,
            needs_quorum,
            swarm_params,
            swarm_if,
            search_params,
            admin,
            swarm_fit,
        )
        return fn

    return mark
