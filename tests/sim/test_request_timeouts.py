"""Every in-flight request times out at its own deadline, whatever the other requests' timeout
handlers do: the client's NetworkClient checks all in-flight requests on each poll.

Kafka: clients/src/main/java/org/apache/kafka/clients/NetworkClient.java,
handleTimedOutRequests (with InFlightRequests.nodesWithTimedOutRequests).
"""

from __future__ import annotations

from typing import Any

from sim.cluster.node import TIMEOUT, BaseNode
from sim.cluster.world import World
from sim.config import Config


class Silent(BaseNode):
    """A node that never answers: every request to it times out."""


def test_a_timeout_handler_that_sends_again_does_not_delay_other_timeouts() -> None:
    world = World(Config(), 0)
    client, silent = BaseNode(world, "client"), Silent(world, "silent")
    for node in (client, silent):
        world.net.add_node(node, "client")
    fired: dict[str, float] = {}

    def on_first(_reply: Any) -> None:
        fired["first"] = world.env.now
        # like a producer refreshing metadata after a timeout: a new, later deadline
        client.call("silent", "Metadata", {}, 5.0, lambda _r: fired.setdefault("meta", 0.0))

    def on_second(reply: Any) -> None:
        assert reply is TIMEOUT
        fired["second"] = world.env.now

    client.call("silent", "Produce", {}, 1.0, on_first)
    world.env.run(until=0.5)
    client.call("silent", "Produce", {}, 1.0, on_second)  # due at 1.5
    world.env.run(until=10.0)
    assert fired["first"] == 1.0
    assert fired["second"] == 1.5, fired  # not at the Metadata request's deadline (6.0)
