"""Guided campaigns: coverage is collected without changing the run, mutations stay valid, and
one campaign seed gives one sequence of runs whatever the number of workers."""

from __future__ import annotations

import json
import random
import re
import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.mutate import mutate, mutate_params
from faults.registry import REGISTRY
from faults.schedule import validate_schedule
from sim.config import Config, from_mapping
from sim.runs.coverage import Coverage, bucket
from sim.runs.guided import GuidedSummary, fault_kinds, run_guided, with_sites
from sim.runs.runner import run
from tests.cli.test_bad_input import eosim

SMALL = {"time-limit": 3, "convergence": 2}


def test_coverage_does_not_change_the_history_and_sees_the_protocol() -> None:
    config = from_mapping({"mode": "idempotent", "nemesis": "drop-acks", **SMALL})
    coverage = Coverage()
    traced = run(config, 7, trace=coverage)
    assert traced.digest == run(config, 7).digest
    features = coverage.features(traced.results)
    assert "msg:Produce:ok" in features
    assert any(f.startswith("dropped:ProduceResponse") for f in features)  # the lost acks
    assert any(f.startswith("msg:ProduceResponse") for f in features)


def test_coverage_tells_the_answer_to_a_held_request_apart() -> None:
    """The answer to a request a fault held back is a feature of its own (a late marker or
    TxnOffsetCommit accepted, or fenced), so guided search keeps the runs where one landed and
    mutates from there; the same requests answered on time are not."""
    from sim.scenarios import SCENARIOS

    case = SCENARIOS["delayed-txn-offset-commit"].cases[0]
    coverage = Coverage()
    run(case.config, 0, case.schedule(0), trace=coverage)
    late = {f for f in coverage.features() if f.startswith("late-answer:")}
    assert late == {
        "late-answer:TxnOffsetCommitResponse:ok",
        "late-answer:TxnOffsetCommitResponse:ok#1",
    }
    plain = Coverage()
    run(case.config, 0, [], trace=plain)
    assert "msg:TxnOffsetCommitResponse:ok" in plain.features()
    assert not any(f.startswith("late-answer:") for f in plain.features())


def test_coverage_sees_a_preferred_election_meet_a_replica_outside_the_isr() -> None:
    """The precondition of a preferred leader elected from behind is a feature: refused on a
    correct controller, taken with the bug switch (guided search keeps such runs).

    Kafka: metadata/src/main/java/org/apache/kafka/controller/PartitionChangeBuilder.java,
    electPreferredLeader (the first replica only if isValidNewLeader: in the ISR)."""
    from sim.scenarios.bug_matrix import MATRIX

    entry = next(e for e in MATRIX if e.bug == "preferred-election-ignores-isr")
    seen = {}
    for bugs in ((), (entry.bug,)):
        coverage = Coverage()
        run(entry.config.replace(bugs=bugs), 0, entry.schedule(0), trace=coverage)
        seen[bugs] = {f for f in coverage.features() if f.startswith("decision:election:")}
    assert "decision:election:preferred-election refused, replica outside" in seen[()]
    assert "decision:election:preferred-election elects replica outside" in seen[(entry.bug,)]
    assert not any("elects" in f for f in seen[()])


def test_coverage_sees_a_controller_drop_uncommitted_records_and_a_truncation_below_hw() -> None:
    """A deposed KRaft controller renounces with records its quorum never committed, and later
    truncates them when it fetches from the new leader: a correct quorum does this, and
    coverage names both (the kraft-ack-before-commit bug starts from there). Only with that
    bug did a leader acknowledge on the uncommitted ISR, so only then do followers truncate
    records below their high watermark: a loss Kafka itself warns of.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/QuorumController.java, renounce;
    raft/src/main/java/org/apache/kafka/raft/KafkaRaftClient.java, handleFetchResponse
    (log.truncateToEndOffset on a diverging epoch); core/src/main/scala/kafka/server/
    ReplicaFetcherThread.scala, truncate ("Truncating ... below high watermark")."""
    from sim.scenarios.bug_matrix import MATRIX

    entry = next(e for e in MATRIX if e.bug == "kraft-ack-before-commit")
    seen = {}
    for bugs in ((), (entry.bug,)):
        config = entry.config.replace(bugs=bugs)
        coverage = Coverage()
        traced = run(config, 1, entry.schedule(1), trace=coverage)
        assert traced.digest == run(config, 1, entry.schedule(1)).digest
        seen[bugs] = {f for f in coverage.features() if f.startswith("decision:")}
    for bugs in seen:
        assert "decision:metadata-log:controller renounced with uncommitted" in seen[bugs]
        assert "decision:metadata-log:metadata log truncated, uncommitted" in seen[bugs]
    below_hw = "decision:log-truncated:truncated below its high"
    assert below_hw in seen[(entry.bug,)] and below_hw not in seen[()]


def test_buckets_are_coarse_above_three() -> None:
    assert [bucket(n) for n in (1, 2, 3, 4, 7, 8, 20, 40, 500)] == [
        "1", "2", "3", "4+", "4+", "8+", "16+", "32+", "128+",
    ]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(0, 5),
    time_limit=st.floats(1.0, 30.0),
    params=st.booleans(),
)
def test_a_mutated_schedule_is_always_valid(
    seed: int, n: int, time_limit: float, params: bool
) -> None:
    rng = random.Random(seed)
    kinds = sorted(REGISTRY)
    schedule: list[dict] = []
    for _ in range(n):
        schedule = mutate(schedule, rng, kinds, time_limit, params=params)
    for _ in range(3):
        schedule = mutate(schedule, rng, kinds, time_limit, other=schedule, params=params)
        validate_schedule(schedule, time_limit)


def test_parameter_mutation_explores_each_kinds_parameters_and_stays_valid() -> None:
    """A fault's parameters are redrawn or stepped towards a fresh draw, one at a time, and
    stay valid for their kind (a clock rate never lands on exactly 1, a delayed request is a
    real request type)."""
    rng = random.Random(5)
    tunable = sorted(k for k, spec in REGISTRY.items() if spec.params_draw is not None)
    assert {"drop-acks", "delay", "delay-request", "clock-bump", "clock-skew"} <= set(tunable)
    for kind in tunable:
        fault = {"at": 1.0, "nemesis": kind, "duration": 1.0, "target": "x", "params": {}}
        seen = set()
        for _ in range(40):
            fault = mutate_params(fault, rng)
            validate_schedule([{**fault, "target": REGISTRY[kind].default_target}])
            seen.add(json.dumps(fault["params"], sort_keys=True))
        if kind == "kill-broker":  # one switch: lose the unflushed suffix or not
            assert seen == {'{"lose-unflushed": false}', '{"lose-unflushed": true}'}, seen
            continue
        if kind == "partition-controller-leader":  # keep a broker on its side, or not
            assert seen == {"{}", '{"with": "random-broker"}'}, seen
            continue
        assert len(seen) > 10, (kind, seen)
    plain = {"at": 1.0, "nemesis": "crash-producer", "duration": 1.0, "target": "x", "params": {}}
    assert mutate_params(plain, rng) == plain  # a kind without a parameter space


def test_without_parameter_mutation_a_faults_parameters_are_never_changed() -> None:
    """``params=False`` (guided-schedules in the search benchmark): the edits are the schedule
    edits only; every fault keeps parameters some input fault had, or its kind's defaults."""
    rng = random.Random(9)
    kinds = sorted(REGISTRY)
    start = [{"at": 0.5, "nemesis": "drop-acks", "duration": 1.0, "target": "producers",
              "params": {"p": 0.5}}]  # fmt: skip
    schedule = start
    for _ in range(200):
        schedule = mutate(schedule, rng, kinds, 10.0, other=start)
        for f in schedule:
            assert f["params"] in ({}, {"p": 0.5}), f
    with_params = [mutate(start, random.Random(s), kinds, 10.0, params=True) for s in range(60)]
    assert any(f["params"] not in ({}, {"p": 0.5}) for sch in with_params for f in sch)


def test_parameter_mutation_is_one_sequence_of_runs_for_any_workers() -> None:
    """With parameter mutation (the default) a campaign seed still gives one sequence of runs
    whatever the number of workers, and the runs it spends do carry mutated parameters."""
    config = from_mapping({"mode": "idempotent", "nemesis": "drop-acks,delay", **SMALL})
    # 40 runs: after the fresh first round most candidates are children, and a
    # mutation changes parameters in a fraction of them
    one = run_guided(config, 4, 40, workers=1)
    two = run_guided(config, 4, 40, workers=2)
    assert [r["digest"] for r in one.runs] == [r["digest"] for r in two.runs]
    assert [r["schedule"] for r in one.runs] == [r["schedule"] for r in two.runs]
    assert any(f["params"] for r in one.runs[8:] for f in r["schedule"])
    off = run_guided(config, 4, 24, workers=1, mutate_params=False)
    assert not any(f["params"] for r in off.runs for f in r["schedule"])
    assert one.to_json()["mutate_params"] is True and off.to_json()["mutate_params"] is False


def test_one_campaign_seed_gives_one_sequence_of_runs_for_any_workers() -> None:
    config = from_mapping({"mode": "idempotent", **SMALL})
    one = run_guided(config, 3, 10, workers=1)
    two = run_guided(config, 3, 10, workers=2)
    assert [r["digest"] for r in one.runs] == [r["digest"] for r in two.runs]
    assert one.first_reached == two.first_reached
    assert len(one.corpus) >= 2 and one.growth()[-1] > one.growth()[0]


def test_every_run_says_where_it_comes_from() -> None:
    """A run's ``origin`` (guided.json, the failing-run lines): a fresh plan, or the earlier
    run it mutates or replays, and for a replay the moment and decision it returns to."""
    config = from_mapping({"mode": "transactional", "nemesis": "drop-acks", **SMALL})
    summary = run_guided(config, 5, 40)
    origins = [r["origin"] for r in summary.runs]
    assert origins[:8] == ["fresh plan"] * 8
    for r in summary.runs[8:]:
        found = re.fullmatch(r"run (\d+) (mutated|mutated under a new seed|replayed to "
                             r"[\d.]+ s \(.+\), new faults after it)", r["origin"])  # fmt: skip
        assert r["origin"] == "fresh plan" or (found and int(found[1]) < r["index"]), r["origin"]
    assert any("replayed" in o for o in origins) and any("mutated" in o for o in origins)
    assert all("->" not in o for o in origins)


def test_guided_mutates_the_kinds_named_or_the_whole_pool() -> None:
    assert fault_kinds(Config(nemesis=("drop-acks",))) == ["drop-acks"]
    pool = fault_kinds(Config(mode="transactional"))
    assert "kill-broker" in pool and "delay-request" in pool
    # the controller faults need a KRaft quorum: a mutation adding one without it was refused
    assert "kill-controller" not in pool
    quorum = Config(mode="transactional", external={"controller.quorum.voters": 3})
    assert "kill-controller" in fault_kinds(quorum)


def test_cli_guided_campaign_reports_and_reproduces_a_failure(tmp_path: Path) -> None:
    store = tmp_path / "g"
    proc = eosim(
        "campaign", "--mode", "idempotent", "--nemesis", "drop-acks", "--bug", "no-dedup",
        "--guided", "--seeds", "0..7", "--workers", "1", "--time-limit", "3",
        "--set", "convergence=2", "--store", str(store),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"^coverage: \d+ protocol features over 8 runs", proc.stdout, re.M)
    data = json.loads((store / "guided.json").read_text())
    assert data["failing_runs"] and data["features"] == len(data["first_reached"])
    line = next(x for x in proc.stdout.splitlines() if "-> " in x and "eosim run" in x)
    args = shlex.split(line.split("->", 1)[1].strip().removeprefix("eosim "))
    failing = data["failing_runs"][0]
    rerun = eosim(*args, "--store", str(tmp_path / "r"), "--no-report", "--json")
    stored = json.loads((Path(failing["store"]) / "results.json").read_text())
    assert json.loads(rerun.stdout)["digest"] == stored["digest"]


def test_guided_runs_with_buggify_unless_the_config_says_otherwise(tmp_path: Path) -> None:
    """Guided search turns BUGGIFY on by default (sim.runs.guided.with_buggify), and the
    reproduce line carries it; a config that sets sim.buggify either way keeps its choice."""
    config = from_mapping({"mode": "idempotent", "nemesis": "drop-acks", **SMALL})
    (tmp_path / "on").mkdir()
    on = run_guided(config, 1, 1, store=str(tmp_path / "on"))
    assert on.config.external["sim.buggify"] is True
    stored = json.loads((tmp_path / "on" / "guided.json").read_text())
    assert stored["config"]["external"]["sim.buggify"] is True
    off = run_guided(config.replace(external={"sim.buggify": False}), 1, 1)
    assert off.config.external == {"sim.buggify": False}
    every = run_guided(config.replace(external={"sim.buggify-all": True}), 1, 1)
    assert "sim.buggify" not in every.config.external


def test_added_faults_land_just_after_the_anchor_half_the_time() -> None:
    """A mutation given an anchor (when the parent reached its rarest behaviour) puts about
    half the faults it adds within a second after it; without one, anywhere."""
    kinds = ["crash-consumer", "pause-client"]
    anchored, free = [], []
    for s in range(200):
        anchored += mutate([], random.Random(s), kinds, 10.0, anchor=6.0)
        free += mutate([], random.Random(s), kinds, 10.0)
    near = sum(6.0 <= f["at"] <= 7.0 for f in anchored) / len(anchored)
    near_free = sum(6.0 <= f["at"] <= 7.0 for f in free) / len(free)
    assert 0.4 < near < 0.75 and near_free < 0.2, (near, near_free)


def test_coverage_notes_when_each_protocol_event_first_happened() -> None:
    """The first time of each decision, error answer and late answer, in simulated time, for
    guided search's anchors; routine traffic has none."""
    config = Config(mode="transactional", time_limit=3, convergence=2, nemesis=("drop-acks",))
    coverage = Coverage()
    outcome = run(config, 1, trace=coverage)
    times = coverage.first_at
    assert times and all(0 <= t <= outcome.results["stats"]["sim_time"] for t in times.values())
    assert all(f.startswith(("decision:", "msg:", "late-answer:")) for f in times)
    assert not any(f.endswith(":ok") and f.startswith("msg:") for f in times)
    assert set(times) <= set(coverage.hits)


def test_explore_after_leaves_everything_up_to_the_anchor_as_it_was() -> None:
    """Go-Explore's mutation: faults up to the anchor untouched; a new fault lands within a
    second after it, or a later fault gets new parameters; the schedule stays valid."""
    from faults.mutate import explore_after

    kinds = sorted(REGISTRY)
    parent = [
        {
            "at": 0.5,
            "nemesis": "drop-acks",
            "duration": 1.0,
            "target": "leader-of:k0",
            "params": {},
        },
        {"at": 4.0, "nemesis": "delay", "duration": 0.5, "target": "brokers", "params": {}},
    ]
    changed_later = added = 0
    for s in range(300):
        child = explore_after(parent, random.Random(s), kinds, 10.0, anchor=3.0, params=True)
        validate_schedule(child, 10.0)
        assert [f for f in child if f["at"] <= 3.0] == parent[:1]
        new = [f for f in child if f not in parent]
        assert new and all(3.0 <= f["at"] <= 4.0 or f["nemesis"] == "delay" for f in new)
        added += len(child) > len(parent)
        changed_later += parent[1] not in child
    assert added > 250 and changed_later > 20, (added, changed_later)


def test_a_child_explored_after_the_anchor_replays_its_parent_up_to_it() -> None:
    """The child has its parent's seed and sites and faults up to the anchor, so its history
    up to the anchor is its parent's, byte for byte, and it reaches the rare event at the same
    moment (the precondition a bug behind that event needs)."""
    from sim.runs.guided import _Corpus, run_candidate, with_buggify

    config = with_buggify(from_mapping({"mode": "transactional", **SMALL, "time-limit": 6}))
    data = config.to_dict()
    corpus = _Corpus(config, 0)
    first = corpus.candidates(0, 1)[0]
    seed, schedule, sites = first.seed, first.schedule, first.sites
    parent = run_candidate(data, 0, seed, schedule, None, sites)
    feature, anchor = sorted(parent["feature_times"].items(), key=lambda kv: kv[1])[-1]
    assert 0.5 < anchor < 5.0, parent["feature_times"]
    for _ in range(3):
        seed2, schedule2, sites2 = corpus._explore_after(parent, anchor)
        assert (seed2, sites2) == (seed, parent["sites"]) and schedule2 != parent["schedule"]
        child = run_candidate(data, 1, seed2, schedule2, None, sites2)
        assert child["feature_times"][feature] == anchor

        def prefix(s: int, sch: list[dict], sites: list[str] | None) -> list[str]:
            text = run(with_sites(config, sites), s, sch).history_text.splitlines()
            return [line for line in text if json.loads(line)["time"] <= anchor]

        assert prefix(seed2, schedule2, sites2) == prefix(seed, parent["schedule"], sites)


def test_the_anchor_goes_to_rare_seldom_chosen_and_productive_decisions() -> None:
    """Go-Explore's choice of a decision: weight (1 + children with news) / sqrt((1 + times
    chosen) x runs that reached it). A rare event is chosen most; one whose children keep
    finding something new gains; one chosen often without news loses."""
    from sim.runs.guided import RETURN_SHARE, _Corpus

    corpus = _Corpus(Config(mode="idempotent"), 0)
    common = {"index": 0, "features": [], "feature_times": {"decision:a": 1.0, "decision:b": 2.0}}
    rare = {
        "index": 1,
        "features": [],
        "feature_times": {"decision:a": 0.5, "decision:x": 3.25, "late-answer:Y:ok": 3.5},
    }
    corpus.entries = [common, rare]
    corpus.seen = {"decision:a": 64, "decision:b": 16, "decision:x": 1, "late-answer:Y:ok": 1}

    def picks(n: int = 2000) -> dict[str | None, int]:
        out: dict[str | None, int] = {}
        chosen = dict(corpus.chosen)
        for i in range(n):
            corpus.chosen = dict(chosen)  # each pick from the same state
            parent, anchor = corpus._return_point(i)
            key = None if parent is None else corpus.anchored[i]
            out[key] = out.get(key, 0) + 1
            if parent is not None:
                assert parent["feature_times"][key] == anchor
        return out

    first = picks()
    mutated = 2000 * (1 - RETURN_SHARE)  # the others: the rarity-weighted choice
    assert 0.85 * mutated < first[None] < 1.15 * mutated
    assert "late-answer:Y:ok" not in first  # decisions only: answers mostly echo the faults
    assert first["decision:x"] > first["decision:b"] > first["decision:a"], first
    corpus.chosen = {"decision:x": 63}
    assert picks()["decision:x"] < first["decision:x"] / 2
    corpus.productive = {"decision:b": 8}
    assert picks()["decision:b"] > first["decision:b"] * 2
    # credit is given when a run anchored at an event reaches a feature no run had reached
    corpus.anchored = {7: "decision:a"}
    summary = GuidedSummary(Config(), 0, 1)
    corpus.add({"index": 7, "features": ["brand-new"]}, summary)
    assert corpus.productive["decision:a"] == 1 and 7 not in corpus.anchored


def test_children_return_to_a_hazard_first_and_half_of_them_to_just_before_it() -> None:
    """Once the corpus holds a hazard (an offset moving back, an election from outside the
    ISR: sim.cluster.trace.HAZARDS), HAZARD_SHARE of the returning children go to one, however
    many ordinary decisions there are; half of those to up to LEAD_IN seconds before it, so
    their faults change how the run comes to it. Without one, nothing changes."""
    from sim.runs.coverage import is_hazard
    from sim.runs.guided import HAZARD_SHARE, LEAD_IN, LEAD_IN_SHARE, RETURN_SHARE, _Corpus

    hazard = "decision:election:preferred-election refused, replica outside"
    assert is_hazard(hazard) and is_hazard("decision:offsets:committed offset moves back:")
    assert not is_hazard("decision:txn-state:Ongoing -> PrepareAbort")
    assert not is_hazard("msg:ElectLeaders:election")  # decisions only
    ordinary = {f"decision:d{i}": float(i) for i in range(40)}
    corpus = _Corpus(Config(mode="idempotent"), 0)
    corpus.entries = [
        {"index": 0, "features": [], "feature_times": ordinary},
        {"index": 1, "features": [], "feature_times": {**ordinary, hazard: 12.5}},
    ]
    corpus.seen = {f: 2 for f in [*ordinary, hazard]}
    n = 4000
    anchors = []
    for i in range(n):
        parent, at = corpus._return_point(i)
        if parent is not None and corpus.anchored[i] == hazard:
            anchors.append(at)
    expected = n * RETURN_SHARE * HAZARD_SHARE  # plus its share of the ordinary draws
    assert 0.9 * expected < len(anchors) < 1.15 * expected
    before = [a for a in anchors if a < 12.5]
    assert all(a >= 12.5 - LEAD_IN for a in before)
    assert 0.85 * LEAD_IN_SHARE < len(before) / len(anchors) < 1.15 * LEAD_IN_SHARE
    # a lead-in says so where the run comes from
    for entry in corpus.entries:
        entry.update(seed=3, schedule=[], sites=None)
    origins = [c.origin for c in corpus.candidates(10_000, 400)]
    assert any(
        o.startswith("run 1 replayed to") and "(before election:preferred-election" in o
        for o in origins
    )
    corpus.entries[1]["feature_times"].pop(hazard)
    corpus.chosen = {}
    picks = [corpus._return_point(n + i)[0] is not None for i in range(600)]
    assert all(corpus.anchored[n + i] in ordinary for i, returned in enumerate(picks) if returned)


def test_the_fresh_share_anneals_from_every_run_to_a_quarter() -> None:
    """Fresh swarm plans for the first FRESH_ALL runs (what easy targets need), half at run 64,
    a quarter from run 256 on: children once the corpus has rare decisions to return to."""
    from sim.runs.guided import FRESH_FLOOR, fresh_share

    assert [fresh_share(i) for i in (0, 1, 16)] == [1.0, 1.0, 1.0]
    assert fresh_share(64) == 0.5 and fresh_share(256) == FRESH_FLOOR == fresh_share(5000)
    assert all(fresh_share(i) >= fresh_share(i + 1) for i in range(600))


def test_children_keep_their_parents_buggify_sites_a_flip_at_a_time() -> None:
    """A child enables its parent's BUGGIFY sites (sim.buggify-sites), under a new seed too,
    one site flipped a quarter of the time; fresh plans leave them to their seed. A
    configuration that fixes the sites (every site, or BUGGIFY off) keeps them fixed."""
    from sim.buggify_sites import SITES
    from sim.runs.guided import SITE_FLIP, _Corpus, fresh_share

    parent_sites = ["empty-fetch", "auto-leader-rebalance", "late-request"]
    parent = {"index": 0, "seed": 3, "schedule": [], "features": ["x"], "sites": parent_sites}
    corpus = _Corpus(from_mapping({"mode": "idempotent", "sim.buggify": True}), 0)
    corpus.entries, corpus.seen = [parent], {"x": 1}
    children = [c for c in corpus.candidates(8, 400) if c.sites is not None]
    assert all(c.origin == "run 0 mutated" + ("" if c.seed == 3 else " under a new seed")
               for c in children)  # fmt: skip
    fresh = 400 - len(children)
    expected = sum(fresh_share(i) for i in range(8, 408)) / 400
    assert abs(fresh / 400 - expected) < 0.08  # fresh plans: their seed draws the sites
    flipped = [set(c.sites or ()) ^ set(parent_sites) for c in children]
    assert all(len(change) <= 1 for change in flipped)
    share = sum(bool(change) for change in flipped) / len(children)
    assert abs(share - SITE_FLIP) < 0.1, share
    assert all(c.sites == [s for s in SITES if s in (c.sites or ())] for c in children)
    for fixed in ({"sim.buggify-all": True}, {"sim.buggify": False}):
        corpus = _Corpus(from_mapping({"mode": "idempotent", **fixed}), 0)
        corpus.entries, corpus.seen = [parent], {"x": 1}
        assert all(c.sites is None for c in corpus.candidates(8, 40))


def test_a_child_with_inherited_sites_reproduces_from_its_run_config() -> None:
    """The reproduce line of a run names its sites (GuidedSummary.run_config): a child that
    inherited sites its seed would not draw reruns byte for byte from that line's config."""
    from sim.runs.guided import GuidedSummary, run_candidate, with_buggify

    config = with_buggify(from_mapping({"mode": "transactional", "nemesis": "drop-acks", **SMALL}))
    sites = ["concurrent-transactions", "marker-retry", "slow-marker"]
    result = run_candidate(config.to_dict(), 9, 1_000_009, [], None, sites)
    assert result["sites"] is not None and sorted(result["sites"]) == sorted(sites)
    again = GuidedSummary(config, 0, 10).run_config(result)
    assert again.buggify_sites == tuple(sites)
    assert run(again, 1_000_009, []).digest == result["digest"]
    drawn = run(config, 1_000_009, []).results["stats"]["buggify"]
    assert sorted(s for s, n in drawn.items() if n is not None) != sorted(sites)


@pytest.mark.parametrize("version", ["4.0", "4.2"])
def test_fencing_a_partitions_last_isr_member_is_a_hazard_with_a_long_lead_in(version: str) -> None:
    """A partition whose last ISR member is fenced is offline: what it committed is only on
    brokers that are down (with ELR, also on its eligible replicas). Coverage names that
    hazard, and only for that partition and that broker; a lead-in to it may go back a
    broker session further than to other hazards, to the crash that decided what it kept."""
    from sim.cluster.build import build_world
    from sim.runs.coverage import Coverage, is_hazard
    from sim.runs.guided import LEAD_IN, lead_in

    config = Config(mode="idempotent", kafka_version=version).validate()
    world = build_world(config, seed=1)
    coverage = Coverage()
    world.net.attach_trace(coverage)
    world.env.run(until=0.5)
    controller = world.controller
    p = controller.partitions["k0"]
    lone = p.leader
    assert lone is not None
    p.isr = [lone]
    others = [b for b in p.replicas if b != lone]
    controller.fence(others[0])  # not in k0's ISR any more: nothing offline
    assert not [f for f in coverage.hits if f.startswith("decision:offline")]
    controller.fence(lone)
    offline = [f for f in coverage.hits if f.startswith("decision:offline")]
    assert offline == ["decision:offline:last ISR member fenced:"]
    assert is_hazard(offline[0])
    assert lead_in(offline[0], config) == config.broker_session_timeout_ms / 1000 + LEAD_IN
    assert lead_in("decision:election:preferred-election refused", config) == LEAD_IN


def test_a_child_completes_a_hazard_by_striking_a_broker_it_named() -> None:
    """Once the corpus holds a hazard with a failure to complete it (``sim.runs.strikes``:
    the last ISR member fenced), STRIKE_SHARE of the children replay a run that reached it
    and add that failure (a crash, with the parameters swarm would draw) on a broker the
    hazard named, up to lead_in seconds before it; the parent's faults stay as they were. An
    election the controller refused (correct Kafka: it stays refused), or a hazard too late
    for a fault (in the convergence phase), gives none."""
    from sim.runs.guided import _Corpus, fresh_share, lead_in
    from sim.runs.strikes import STRIKE_SHARE

    hazard = "decision:offline:last ISR member fenced:"
    refused = "decision:election:preferred-election refused, replica outside ISR:"
    before = [{"at": 0.5, "nemesis": "partition-node", "duration": 1.0, "target": "b2",
               "params": {}}]  # fmt: skip
    parent = {
        "index": 4,
        "seed": 9,
        "sites": None,
        "features": [hazard, refused],
        "schedule": before,
        "feature_times": {hazard: 4.0, refused: 4.0},
        "hazard_brokers": {hazard: ["b1"], refused: ["b1"]},
    }
    config = Config(mode="idempotent", external={"controller.quorum.voters": 3})
    corpus = _Corpus(config, 0)
    corpus.entries = [parent]
    drawn = [corpus._strike(i) for i in range(2000)]
    strikes = [c for c in drawn if c is not None]
    assert 0.9 * STRIKE_SHARE < len(strikes) / len(drawn) < 1.1 * STRIKE_SHARE
    earliest = 4.0 - lead_in(hazard, config)
    lossy = 0
    for c in strikes:
        assert c is not None and c.seed == 9 and c.schedule[0] == before[0]
        [new] = [f for f in c.schedule if f not in before]
        assert (new["nemesis"], new["target"]) == ("kill-broker", "b1")
        assert earliest <= new["at"] <= 4.001
        assert c.origin.startswith("run 4 replayed to ") and "(before offline:" in c.origin
        assert c.origin.endswith("kill-broker on b1 there")
        lossy += bool(new["params"].get("lose-unflushed"))
    assert 0.4 < lossy / len(strikes) < 0.6  # kill-broker's own draw
    validate_schedule(strikes[0].schedule, 6.0)
    # children: a share of them strike
    origins = [c.origin for c in corpus.candidates(5_000, 2000)]
    share = sum(o.endswith(" there") for o in origins) / len(origins)
    expected = (1 - fresh_share(5_000)) * STRIKE_SHARE
    assert 0.8 * expected < share < 1.2 * expected
    # nothing to strike: the election was refused
    corpus.entries = [{**parent, "hazard_brokers": {refused: ["b1"]}}]
    state = corpus.rng.getstate()
    assert all(corpus._strike(i) is None for i in range(100))
    assert corpus.rng.getstate() == state  # nothing to strike: no draw
    end = corpus.config.time_limit + lead_in(hazard, config) + 1.0
    corpus.entries = [{**parent, "feature_times": {hazard: end, refused: 4.0}}]
    assert all(corpus._strike(i) is None for i in range(100))


def test_an_election_from_outside_the_isr_is_completed_by_starving_that_replica() -> None:
    """A replica elected from outside the ISR loses acknowledged records only if it lacks
    some when elected; a run usually elects it right after it came back, before anything was
    written. The strike holds that replica's follower Fetch requests back (a slow link: Kafka:
    ReplicaFetcherThread keeps heartbeating apart from fetching, so the replica is neither
    fenced nor caught up, and Partition.maybeShrinkIsr/maybeExpandIsr leave it out) and moves
    the election later (Kafka: PartitionChangeBuilder.electLeader for a PREFERRED election,
    which with the bug ignores the ISR): the parent's elect-preferred at that moment goes, and
    with it the auto-leader-rebalance site that reruns it at the next controller tick. A
    campaign that may not delay requests strikes no election."""
    from sim.runs.guided import _Corpus
    from sim.runs.strikes import REBALANCE_SITE

    elected = "decision:election:preferred-election elects replica outside ISR:"
    schedule = [
        {"at": 0.4, "nemesis": "kill-broker", "duration": 0.5, "target": "b2", "params": {}},
        {"at": 1.2, "nemesis": "elect-preferred", "duration": 0.1, "target": "brokers",
         "params": {}},
        {"at": 3.0, "nemesis": "elect-preferred", "duration": 0.1, "target": "brokers",
         "params": {}},
    ]  # fmt: skip
    parent = {
        "index": 7,
        "seed": 3,
        "sites": [REBALANCE_SITE, "empty-fetch"],
        "features": [elected],
        "schedule": schedule,
        "feature_times": {elected: 1.2},
        "hazard_brokers": {elected: ["b2"]},
    }
    config = Config(
        mode="idempotent", external={"controller.quorum.voters": 3, "sim.buggify": True}
    )
    corpus = _Corpus(config, 0)
    corpus.entries = [parent]
    strikes = [c for c in (corpus._strike(i) for i in range(400)) if c is not None]
    assert strikes
    for c in strikes:
        assert c.seed == 3 and schedule[0] in c.schedule and schedule[2] in c.schedule
        assert schedule[1] not in c.schedule  # the parent's election at the hazard went
        [hold] = [f for f in c.schedule if f["nemesis"] == "delay-request"]
        assert hold["target"] == "b2" and hold["params"]["api"] == "Fetch"
        assert 1.2 - 1.0 <= hold["at"] <= 1.201 and hold["params"]["count"] >= 10
        [moved] = [f for f in c.schedule if f["nemesis"] == "elect-preferred" and f["at"] != 3.0]
        assert 1.2 + 0.1 <= moved["at"] <= 1.2 + 2.0
        assert moved["at"] <= hold["at"] + hold["duration"]  # still held when it runs
        assert c.sites == ["empty-fetch"]
        assert c.origin.startswith("run 7 replayed to ") and "(before election:" in c.origin
        assert c.origin.endswith(f"Fetch held on b2, the election moved to {moved['at']:g} s")
        validate_schedule(c.schedule, config.time_limit)
    # each hazard kind its share of the strikes, however many runs reached the other kind
    offline = "decision:offline:last ISR member fenced:"
    crowd = [
        {**parent, "index": i, "features": [offline], "feature_times": {offline: 2.0},
         "hazard_brokers": {offline: ["b0"]}}
        for i in range(9)
    ]  # fmt: skip
    corpus.entries = [*crowd, parent]
    origins = [c.origin for c in (corpus._strike(i) for i in range(4000)) if c is not None]
    assert 0.4 < sum("Fetch held" in o for o in origins) / len(origins) < 0.6
    # without delay-request in the mix there is nothing to strike it with
    narrow = from_mapping({"mode": "idempotent", "nemesis": ["kill-broker", "elect-preferred"]})
    corpus = _Corpus(narrow, 0)
    corpus.entries = [parent]
    assert all(corpus._strike(i) is None for i in range(100))
