"""Base for every network participant: request/response with correlation ids and timeouts.

Handlers are plain callbacks, not simpy processes: a node reacts to a message synchronously, which
keeps the event count (and so the cost) per message at one simpy event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simpy import Event

from sim.cluster.clock import Clock
from sim.cluster.network import CONNECTION_RESET, Connection, Message

if TYPE_CHECKING:
    from sim.cluster.context import Context

TIMEOUT = {"error": "request_timed_out"}


class BaseNode:
    """A named node with an incarnation counter: a crash bumps it, which orphans old callbacks."""

    def __init__(self, world: Context, name: str) -> None:
        self.world = world
        self.env = world.env
        self.net = world.net
        self.name = name
        self.alive = True
        self.incarnation = 0
        self._corr = 0
        self._waiting: dict[int, Callable[[dict[str, Any]], Any]] = {}
        self._deadlines: dict[int, float] = {}
        self._timer_at: float | None = None
        self.handlers: dict[str, Callable[[Message], None]] = {}
        self.paused_until = 0.0
        # this machine's wall clock (perfect unless a clock nemesis moves it); kept across crashes
        self.clock = Clock(self.env)
        # a client's connections, one per broker (sim.clients.connections); None: not modelled
        self.conns: dict[str, Connection] | None = None

    # --- outgoing ------------------------------------------------------------------------
    def call(
        self,
        dst: str,
        api: str,
        body: dict[str, Any],
        timeout: float,
        on_reply: Callable[[dict[str, Any]], Any],
    ) -> int:
        """Send a request; ``on_reply`` gets the response body or TIMEOUT, exactly once."""
        self._corr += 1
        corr = self._corr
        deadline = self.env.now + timeout
        self._waiting[corr] = on_reply
        self._deadlines[corr] = deadline
        conn = None if self.conns is None else self.conns.get(dst)
        self.transmit(Message(self.name, dst, api, body, corr, False, conn))
        if self._timer_at is None or deadline < self._timer_at:
            self._arm(deadline)
        return corr

    def _arm(self, at: float) -> None:
        """One timer per node, armed for the earliest deadline, instead of one per request:
        most requests are answered long before they expire, so this saves a simpy event each."""
        self._timer_at = at
        incarnation = self.incarnation
        self.env.timeout(at - self.env.now).callbacks.append(
            lambda _ev: self._expire(incarnation, at)
        )

    def _expire(self, incarnation: int, at: float) -> None:
        if incarnation != self.incarnation or self._timer_at != at:
            return  # a crash, or a newer timer for an earlier deadline, superseded this one
        self._timer_at = None
        now = self.env.now
        if now < self.paused_until:
            self._arm(self.paused_until)  # a frozen process notices its timeouts when it wakes
            return
        overdue = [c for c, d in self._deadlines.items() if d <= now]
        for corr in overdue:
            if self._deadlines.pop(corr, None) is None:
                continue  # settled by an earlier callback of this pass (a client's disconnect)
            cb = self._waiting.pop(corr, None)
            if cb is not None:
                cb(TIMEOUT)
        # A timeout callback may have sent a new request, arming the timer for its (later)
        # deadline; the requests still waiting may be due before it, so re-arm for the earliest.
        if self._deadlines:
            earliest = min(self._deadlines.values())
            armed = self._armed_for()  # not self._timer_at: a callback above may have re-armed
            if armed is None or earliest < armed:
                self._arm(earliest)

    def _armed_for(self) -> float | None:
        """The timer's deadline, read through a call: mypy (and so mypyc, which trusts it) keeps
        an attribute narrowed to None across the callbacks that re-arm it."""
        return self._timer_at

    def note(self, kind: str, text: str, held: Message | None = None) -> None:
        """A decision for a live message trace (and guided search's coverage); ``held``: a
        request this node will handle late, whose answer coverage counts as a late answer.
        Callers on hot paths check ``net.trace`` first, to skip formatting the text."""
        trace = self.net.trace
        if trace is not None and trace.live:
            trace.note(self.name, kind, text)
            if held is not None:
                trace.held_request(held)

    def request(self, dst: str, api: str, body: dict[str, Any], timeout: float) -> Event:
        """Like ``call`` but returns a simpy event, for client processes written as generators."""
        ev = self.env.event()
        self.call(dst, api, body, timeout, ev.succeed)
        return ev

    def reply(self, msg: Message, body: dict[str, Any]) -> None:
        self.transmit(Message(self.name, msg.src, msg.api, body, msg.corr, True))

    def _later(
        self, action: Callable[[Message], None], msg: Message, incarnation: int, _ev: object
    ) -> None:
        """A deferred send or receive, dropped if the process crashed meanwhile (even if it
        has restarted since: what a process held in memory dies with it)."""
        if self.alive and self.incarnation == incarnation:
            action(msg)

    def later(self, delay: float, action: Callable[[Message], None], msg: Message) -> None:
        """``action(msg)`` after ``delay`` seconds, unless this process crashes meanwhile."""
        self.env.timeout(delay).callbacks.append(
            functools.partial(self._later, action, msg, self.incarnation)
        )

    def transmit(self, msg: Message) -> None:
        """Put a message on the network; a paused node (a GC pause) sends it when it wakes."""
        if self.paused_until and self.env.now < self.paused_until:  # (0.0: never paused)
            self.later(self.paused_until - self.env.now, self.transmit, msg)
            return
        self.net.send(msg)

    # --- incoming ------------------------------------------------------------------------
    def receive(self, msg: Message) -> None:
        if self.paused_until and self.env.now < self.paused_until:
            # A paused process (a GC pause) handles its messages only when it wakes up.
            self.later(self.paused_until - self.env.now, self.receive, msg)
            return
        if msg.is_response:
            self._deadlines.pop(msg.corr, None)
            cb = self._waiting.pop(msg.corr, None)
            if cb is not None:
                cb(msg.body)
            return
        conn = msg.conn
        if conn is not None and conn.peer != self.incarnation:
            if conn.peer is not None:  # accepted by an earlier incarnation of this node: RST
                self.transmit(
                    Message(self.name, msg.src, msg.api, CONNECTION_RESET, msg.corr, True, conn)
                )
                return
            conn.peer = self.incarnation  # the first request on it: this process accepted it
        handler = self.handlers.get(msg.api)
        if handler is not None:
            handler(msg)

    def crash(self) -> None:
        self.alive = False
        self.incarnation += 1
        self._waiting.clear()
        self._deadlines.clear()
        self._timer_at = None
