"""The verdict: ``True``, ``False`` or ``"unknown"``, and why a verdict is unknown.

"unknown" means nothing forbidden was found but the history cannot show the mode kept its
promise. Jepsen's checker calls such histories invalid (an empty history; acknowledged values
nobody read, its ``unseen``); eosim keeps them apart from real anomalies but never calls them
valid, so ``eosim check`` does not exit 0 on them. The reason says what to add to the history.
"""

from __future__ import annotations

from checkers.index import HistoryIndex
from checkers.witness import Anomalies, and_list, show

KEYS_SHOWN = 5


def unknown_reason(ix: HistoryIndex, found: Anomalies) -> str | None:
    """Why the history cannot be judged valid, or None when it can."""
    st = ix.stats
    if st.sends_ok + st.sends_info + st.sends_fail + st.polls + st.txns == 0:
        return (
            "empty history: no send, poll or txn completed, so there is nothing to judge"
            if st.ops
            else "empty history: no client operations"
        )
    if not ix.first_read:
        return (
            f"no reads: {st.sends_ok} acknowledged send(s) but no poll returned a record, so "
            "nothing shows what the log holds"
        )
    unseen = found.get("unseen")
    if unseen:
        total = sum(int(w.get("count", 0)) for w in unseen)
        keys = sorted((str(w["key"]) for w in unseen), key=str)
        shown = and_list(keys[:KEYS_SHOWN]) if len(keys) <= KEYS_SHOWN else show(keys, KEYS_SHOWN)
        return (
            f"no final reads: {total} acknowledged value(s) on {shown} were never read and no "
            "read reached their offsets; end the history with polls that read every key from "
            "its start"
        )
    return None


def verdict(broken: list[str], reason: str | None) -> bool | str:
    if broken:
        return False
    return "unknown" if reason is not None else True
