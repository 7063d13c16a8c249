"""A node's wall clock: what Kafka's ``Time.milliseconds()`` (``System.currentTimeMillis``) reads
on that machine, as opposed to simulated (true) time, ``env.now``.

A clock reads ``c0 + rate * (now - t0)``: an offset that a bump moves and a rate that a skew
changes, rebased at every change so a change never moves the past. The default clock is
*perfect*: it returns ``env.now`` itself, and converting a duration or a deadline between the
node's clock and simulated time returns its argument unchanged, so a run without clock faults
computes exactly the floats it computed before clocks existed (no drift, no extra simpy event,
no random draw).

Only the timers Kafka runs on the wall clock read a node's clock (see ``docs/clocks.md``): the
transaction coordinator's timeout scan (``TransactionStateManager.timedOutTransactions`` compares
``txnStartTimestamp + txnTimeoutMs`` with ``time.milliseconds()``), the leader's ISR shrink check
(``Replica.isCaughtUp``: ``currentTimeMs - lastCaughtUpTimeMs <= replica.lag.time.max.ms``), and
the producer's ``delivery.timeout.ms`` and ``linger.ms`` (``ProducerBatch.hasReachedDeliveryTimeout``,
``ProducerBatch.waitedTimeMs``). Timers Kafka runs on ``Time.hiResClockMs()`` (monotonic,
``System.nanoTime``), such as the purgatory that expires group session timeouts, stay on
simulated time.

A change notifies the node's listeners, so a timer armed in simulated time for a deadline on the
clock can be re-evaluated (the periodic scans need none: they compare against ``now()`` anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Clock:
    __slots__ = ("env", "perfect", "rate", "_t0", "_c0", "listeners")

    def __init__(self, env: Any) -> None:
        self.env = env
        self.perfect = True
        self.rate = 1.0
        self._t0 = 0.0
        self._c0 = 0.0
        self.listeners: list[Callable[[], None]] = []

    # --- reading ---------------------------------------------------------------------------
    def now(self) -> float:
        """What this node's wall clock reads now (seconds)."""
        if self.perfect:
            return self.env.now
        return self._c0 + (self.env.now - self._t0) * self.rate

    @property
    def offset(self) -> float:
        """How far this clock is ahead of true time (negative: behind)."""
        return 0.0 if self.perfect else self.now() - self.env.now

    def sim_delay(self, local: float) -> float:
        """The simulated duration in which ``local`` seconds pass on this clock."""
        if self.perfect or self.rate == 1.0:
            return local
        return local / self.rate

    def sim_time(self, local_at: float) -> float:
        """The simulated time at which this clock reads ``local_at`` (it may lie in the past)."""
        if self.perfect:
            return local_at
        return self._t0 + (local_at - self._c0) / self.rate

    # --- changing (nemeses) ----------------------------------------------------------------
    def _rebase(self) -> None:
        self._c0 = self.now()
        self._t0 = float(self.env.now)
        self.perfect = False

    def bump(self, delta: float) -> None:
        """Jump by ``delta`` seconds (forward if positive), as ``date -s`` would."""
        self._rebase()
        self._c0 += delta
        self._changed()

    def set_rate(self, rate: float) -> None:
        """From now on the clock advances ``rate`` seconds per true second (drift)."""
        if not rate > 0:
            raise ValueError(f"clock rate must be positive, got {rate!r}")
        self._rebase()
        self.rate = rate
        self._changed()

    def reset(self) -> None:
        """Back to true time, as NTP would set it (Jepsen's clock nemesis heals so)."""
        self.perfect = True
        self.rate = 1.0
        self._t0 = self._c0 = 0.0
        self._changed()

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()
