"""Would a value have been read if it were in the log? The line between "lost" and "unseen".

A value that nobody read is only known to be missing when some consumer read contiguously
across the place it must occupy:

- its offset is known (acknowledged) and lies inside a range some session read contiguously; or
- its offset is unknown, but a session read contiguously from the start of the log past a value
  whose send was invoked only after this value's op completed: this value landed (if at all)
  before that one, so inside the range read.
"""

from __future__ import annotations

from checkers.index import HistoryIndex
from checkers.reads import Coverage


class Visibility:
    def __init__(self, ix: HistoryIndex, coverage: Coverage) -> None:
        self.ix = ix
        self.coverage = coverage
        self._prefix: dict[str, tuple[int, int, int] | None] = {}

    def reader_past(self, key: str, offset: int | None, completed_at: int) -> int | None:
        """An op index that read past where a value written by an op completing at history
        index ``completed_at`` (offset ``offset`` if known) must be; None if nobody did."""
        if offset is not None:
            return self.coverage.covering(key, offset)
        bound = self.prefix(key)
        if bound is not None and completed_at < bound[0]:
            return bound[1]
        return None

    def prefix(self, key: str) -> tuple[int, int, int] | None:
        """(M, reader, writer): reads covered the log from its start to some offset H; M is the
        latest first-invoke index among senders of values read at offsets <= H (op ``writer``)."""
        if key in self._prefix:
            return self._prefix[key]
        ix = self.ix
        best: tuple[int, int, int] | None = None
        kl = ix.log.get(key)
        bound = self.coverage.prefix_end(key, min(kl)) if kl else None
        if kl and bound is not None:
            hi, reader = bound
            for off, v in kl.items():
                if off > hi:
                    continue
                ws = ix.writer_ops(key, v)
                if not ws:
                    continue
                first_invoke = min(ix.invoke_of.get(w["index"], w["index"]) for w in ws)
                if best is None or first_invoke > best[0]:
                    best = (first_invoke, reader, ws[0]["index"])
        self._prefix[key] = best
        return best
