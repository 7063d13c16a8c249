"""A Kafka client's connections: one per broker, answered in order, closed on a timeout or a
reset.

The model's network delivers each message on its own, so a later response could reach a client
before an earlier one whose copy was lost. A real client cannot see that: it talks to a broker
over one TCP connection, the broker reads the next request only after answering the current one
(SocketServer mutes the channel), and a request timeout closes the connection, failing every
request still in flight on it (NetworkClient.handleTimedOutRequests ->
processTimeoutDisconnection -> cancelInFlightRequests). An idempotent producer depends on this:
no batch is acknowledged while an earlier one to the same broker is unanswered, so every
unacknowledged batch stays inside the broker's five-batch dedup window.

A connection belongs to the broker process that accepted it: after that broker restarts, a
request on it is answered with a reset (``sim.cluster.network.Connection``), which closes it as
a timeout does (NetworkClient.processDisconnection), so the requests that were in flight are
retried in order on a new connection instead of a later one being processed first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.cluster.network import CONNECTION_RESET, Connection, Message
from sim.cluster.node import TIMEOUT, BaseNode

if TYPE_CHECKING:
    from sim.cluster.context import Context

# What a request cancelled by the disconnect sees: like a timeout, its outcome is unknown.
DISCONNECTED = {**TIMEOUT, "disconnected": True}


class OrderedConnections(BaseNode):
    """Mixin for client nodes: responses from one broker are handled in request order; one that
    arrives early waits for those before it; a timeout disconnects from that broker."""

    def __init__(self, world: Context, name: str) -> None:
        super().__init__(world, name)
        self._open: dict[str, list[int]] = {}  # broker -> correlation ids in flight, in order
        self._early: dict[str, dict[int, Message]] = {}  # broker -> answers waiting their turn
        self._conns: dict[str, Connection] = {}  # broker -> the open connection
        self.conns = self._conns  # BaseNode.call sends each request on its broker's connection

    def call(
        self,
        dst: str,
        api: str,
        body: dict[str, Any],
        timeout: float,
        on_reply: Callable[[dict[str, Any]], Any],
    ) -> int:
        wrapped = functools.partial(self._on_conn_reply, dst, on_reply)
        if dst not in self._conns:
            self._conns[dst] = Connection()
        corr = super().call(dst, api, body, timeout, wrapped)
        self._open.setdefault(dst, []).append(corr)
        return corr

    def _on_conn_reply(
        self, broker: str, on_reply: Callable[[dict[str, Any]], Any], body: dict[str, Any]
    ) -> None:
        if body is not TIMEOUT:
            on_reply(body)
            return
        # The timeout closes the connection first (cancelling what else is in flight on it),
        # then each callback runs, the timed-out request's first: a retry it sends goes out on a
        # new connection and is not cancelled with the old one.
        cancelled = self._close(broker)
        on_reply(body)
        for callback in cancelled:
            callback(dict(DISCONNECTED))

    def _close(self, broker: str) -> list[Callable[[dict[str, Any]], Any]]:
        self._early.pop(broker, None)
        self._conns.pop(broker, None)
        callbacks = []
        for corr in self._open.pop(broker, []):
            self._deadlines.pop(corr, None)
            callback = self._waiting.pop(corr, None)
            if callback is not None:
                callbacks.append(callback)
        return callbacks

    def receive(self, msg: Message) -> None:
        if not msg.is_response or self.env.now < self.paused_until:
            super().receive(msg)  # requests, and a paused client's deferred handling
            return
        if msg.body is CONNECTION_RESET:
            if self._conns.get(msg.src) is msg.conn:  # not an older connection's late reset
                for callback in self._close(msg.src):
                    callback(dict(DISCONNECTED))
            return
        in_flight = self._open.get(msg.src)
        if not in_flight or msg.corr not in in_flight:
            return  # answers a request cancelled by a disconnect: that connection is gone
        if msg.corr != in_flight[0]:
            self._early.setdefault(msg.src, {})[msg.corr] = msg
            return
        self._deliver(in_flight, msg)
        early = self._early.get(msg.src, {})
        while in_flight and in_flight[0] in early:
            self._deliver(in_flight, early.pop(in_flight[0]))

    def _deliver(self, in_flight: list[int], msg: Message) -> None:
        in_flight.remove(msg.corr)
        super().receive(msg)

    def crash(self) -> None:
        super().crash()
        self._open.clear()
        self._early.clear()
        self._conns.clear()
