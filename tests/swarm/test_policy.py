"""The pure scaling policy: examples and hypothesis properties (no Docker needed)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarm.policy import ScalingDecision, ServiceLoad, decide, idle_for

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def load(**kw) -> ServiceLoad:
    base = dict(
        name="svc", replicas=1, last_activity=NOW - timedelta(hours=1), queue_depth=0, running=0
    )
    base.update(kw)
    return ServiceLoad(**base)


# ------------------------------------------------------------------ examples


def test_idle_service_scales_to_zero():
    [d] = decide([load(last_activity=NOW - timedelta(minutes=16))], NOW, idle_minutes=15)
    assert d == ScalingDecision("svc", 0, d.reason)
    assert d.direction == "down"
    assert "idle for 16.0 min" in d.reason and "threshold 15 min" in d.reason


def test_exactly_at_the_threshold_counts_as_idle():
    assert decide([load(last_activity=NOW - timedelta(minutes=15))], NOW, 15)[0].target == 0


def test_recently_active_service_is_left_alone():
    assert decide([load(last_activity=NOW - timedelta(minutes=14, seconds=59))], NOW, 15) == []


@pytest.mark.parametrize(
    "busy", [{"queue_depth": 1}, {"running": 1}, {"queue_depth": 3, "running": 2}]
)
def test_busy_service_is_never_scaled_down(busy):
    assert decide([load(last_activity=NOW - timedelta(days=3), **busy)], NOW, 15) == []


def test_queued_work_at_zero_scales_up_to_queue_depth_capped_by_max():
    [d] = decide([load(replicas=0, queue_depth=7, max_replicas=3)], NOW, 15)
    assert (d.target, d.direction) == (3, "up")
    assert "7 message(s) queued" in d.reason
    [d] = decide([load(replicas=0, queue_depth=2, max_replicas=5)], NOW, 15)
    assert d.target == 2
    [d] = decide([load(replicas=0, queue_depth=9)], NOW, 15)
    assert d.target == 1  # default max_replicas


def test_service_at_zero_without_work_stays_at_zero():
    assert decide([load(replicas=0)], NOW, 15) == []
    assert decide([load(replicas=0, last_activity=None)], NOW, 15) == []


def test_service_at_zero_with_only_running_work_is_left_alone():
    # "running" rows without replicas are stale leases; recovery re-queues them,
    # and the queued messages then bring the service back.
    assert decide([load(replicas=0, running=2)], NOW, 15) == []


def test_unknown_last_activity_never_scales_down():
    assert decide([load(last_activity=None)], NOW, 0) == []


def test_future_last_activity_is_not_idle():
    assert idle_for(load(last_activity=NOW + timedelta(minutes=5)), NOW) == timedelta(0)
    assert decide([load(last_activity=NOW + timedelta(minutes=5))], NOW, 1) == []


def test_zero_threshold_scales_any_quiet_service_down():
    assert decide([load(last_activity=NOW)], NOW, 0)[0].target == 0


def test_running_service_with_queue_gets_no_decision():
    assert decide([load(replicas=2, queue_depth=50, max_replicas=10)], NOW, 15) == []


def test_order_is_kept_and_duplicates_ignored():
    loads = [
        load(name="b", replicas=0, queue_depth=1),
        load(name="a", last_activity=NOW - timedelta(hours=2)),
        load(name="b", last_activity=NOW - timedelta(hours=2)),
    ]
    assert [(d.service, d.target) for d in decide(loads, NOW, 15)] == [("b", 1), ("a", 0)]


def test_accepts_any_iterable():
    assert decide(iter([load(replicas=0, queue_depth=1)]), NOW, 15)[0].target == 1
    assert decide([], NOW, 15) == []


@pytest.mark.parametrize("bad", [-1, -0.1, math.inf, math.nan])
def test_bad_threshold_is_rejected(bad):
    with pytest.raises(ValueError):
        decide([load()], NOW, bad)


@pytest.mark.parametrize(
    "bad", [{"replicas": -1}, {"queue_depth": -1}, {"running": -2}, {"max_replicas": 0}]
)
def test_bad_load_is_rejected(bad):
    with pytest.raises(ValueError):
        decide([load(**bad)], NOW, 15)


def test_values_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load().replicas = 3  # type: ignore[misc]


# ---------------------------------------------------------------- properties

names = st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=6)


@st.composite
def service_loads(draw) -> ServiceLoad:
    max_replicas = draw(st.integers(1, 8))
    activity = draw(
        st.one_of(
            st.none(),
            st.integers(-3 * 24 * 3600, 3600).map(lambda s: NOW + timedelta(seconds=s)),
        )
    )
    return ServiceLoad(
        name=draw(names),
        replicas=draw(st.integers(0, 10)),
        last_activity=activity,
        queue_depth=draw(st.one_of(st.just(0), st.integers(0, 500))),
        running=draw(st.one_of(st.just(0), st.integers(0, 20))),
        max_replicas=max_replicas,
    )


loads_lists = st.lists(service_loads(), max_size=12)
thresholds = st.floats(min_value=0, max_value=24 * 60, allow_nan=False, allow_infinity=False)


def first_by_name(loads: list[ServiceLoad]) -> dict[str, ServiceLoad]:
    out: dict[str, ServiceLoad] = {}
    for item in loads:
        out.setdefault(item.name, item)
    return out


def apply(loads: list[ServiceLoad], decisions: list[ScalingDecision]) -> list[ServiceLoad]:
    targets = {d.service: d.target for d in decisions}
    return [
        dataclasses.replace(item, replicas=targets[item.name]) if item.name in targets else item
        for item in first_by_name(loads).values()
    ]


@settings(max_examples=400)
@given(loads_lists, thresholds)
def test_never_scales_down_a_service_with_queued_or_running_work(loads, minutes):
    by_name = first_by_name(loads)
    for d in decide(loads, NOW, minutes):
        current = by_name[d.service]
        if current.queue_depth > 0 or current.running > 0:
            assert d.target >= current.replicas, (current, d)
            assert d.target > 0


@settings(max_examples=400)
@given(loads_lists, thresholds)
def test_never_exceeds_max_and_never_negative(loads, minutes):
    by_name = first_by_name(loads)
    for d in decide(loads, NOW, minutes):
        assert 0 <= d.target <= by_name[d.service].max_replicas


@settings(max_examples=400)
@given(loads_lists, thresholds)
def test_at_most_one_decision_per_service_and_no_no_ops(loads, minutes):
    decisions = decide(loads, NOW, minutes)
    assert len({d.service for d in decisions}) == len(decisions)
    by_name = first_by_name(loads)
    for d in decisions:
        assert d.target != by_name[d.service].replicas
        assert d.reason


@settings(max_examples=400)
@given(loads_lists, thresholds)
def test_idempotent(loads, minutes):
    first = decide(loads, NOW, minutes)
    assert decide(apply(loads, first), NOW, minutes) == []


@settings(max_examples=300)
@given(loads_lists, thresholds)
def test_deterministic_and_pure(loads, minutes):
    snapshot = list(loads)
    assert decide(loads, NOW, minutes) == decide(loads, NOW, minutes)
    assert loads == snapshot


@settings(max_examples=400)
@given(service_loads(), thresholds)
def test_decision_matches_the_rules(item, minutes):
    decisions = decide([item], NOW, minutes)
    idle = idle_for(item, NOW)
    should_down = (
        item.replicas > 0
        and item.queue_depth == 0
        and item.running == 0
        and idle is not None
        and idle >= timedelta(minutes=minutes)
    )
    should_up = item.replicas == 0 and item.queue_depth > 0
    if should_down:
        assert [d.target for d in decisions] == [0]
    elif should_up:
        assert [d.target for d in decisions] == [min(item.max_replicas, item.queue_depth)]
        assert decisions[0].target >= 1
    else:
        assert decisions == []


@settings(max_examples=200)
@given(loads_lists, thresholds, st.floats(min_value=0, max_value=600))
def test_a_longer_threshold_never_scales_down_more(loads, minutes, extra):
    shorter = {d.service for d in decide(loads, NOW, minutes) if d.target == 0}
    longer = {d.service for d in decide(loads, NOW, minutes + extra) if d.target == 0}
    assert longer <= shorter
