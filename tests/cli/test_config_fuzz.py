"""Any knob mapping is either a valid Config or refused with one line (UsageError), never an
exception of another kind: the property the CLI's exit code 2 rests on."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config import KNOB_NAMES, Config, from_mapping
from sim.errors import UsageError

NAMES = sorted(
    {
        *KNOB_NAMES.values(),
        "mode",
        "workload",
        "rate",
        "brokers",
        "partitions",
        "producers",
        "consumers",
        "acks",
        "client.oos",
        "client.ignore-fenced",
        "workload.threads",
        "workload.abort-probability",
        "workload.txn-think-ms",
        "workload.resend-on-timeout",
        "sink",
        "kafka.version",
        "nemesis",
        "bugs",
        "external",
        "swarm",
        "client.nonsense",
        "bogus.knob",
    }
)
VALUES = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["v1", "v2", "3.5", "4.0", "all", "1", "true", "open", "java", "nan", "-0"]),
    st.lists(st.integers(), max_size=3),
    st.none(),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=4))
def test_any_knob_mapping_is_valid_or_one_usage_error(knobs: dict[str, object]) -> None:
    try:
        config = from_mapping(knobs).validate()
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert math.isfinite(config.time_limit) and config.time_limit > 0
    assert isinstance(config, Config)
