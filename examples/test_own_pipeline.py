"""The pipelines of own_pipeline.py under the eosim pytest plugin (``pytest examples/``).

The naive sink fails, with the witness and the line that reproduces it; the two fixes pass.
"""

from own_pipeline import NAIVE, NEMESIS, OFFSETS_IN_SINK, UPSERT


def test_naive_sink_is_exactly_once(eosim):  # fails: duplicates after a crash
    eosim.pipeline(NAIVE, seeds=20, nemesis=NEMESIS).assert_exactly_once()


def test_upsert_keyed_by_input_is_exactly_once(eosim):
    eosim.pipeline(UPSERT, seeds=20, nemesis=NEMESIS).assert_exactly_once()


def test_offsets_in_the_sink_transaction_is_exactly_once(eosim):
    eosim.pipeline(OFFSETS_IN_SINK, seeds=20, nemesis=NEMESIS).assert_exactly_once()
