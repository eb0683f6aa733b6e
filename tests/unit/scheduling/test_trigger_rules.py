"""``decide()``: every trigger rule against representative upstream states, with Apache
Airflow's semantics (including deciding early, before every upstream task is done)."""

from __future__ import annotations

import pytest

from downwind.scheduling.trigger_rules import Decision, UpstreamStates, decide
from downwind.sdk.trigger_rule import TriggerRule as TR
from downwind.states import TaskInstanceState as TI

RUN, WAIT, SKIP, UF = Decision.RUN, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED


def up(total: int = 3, *, s: int = 0, k: int = 0, f: int = 0, u: int = 0) -> UpstreamStates:
    """Upstream counts: ``s`` success, ``k`` skipped, ``f`` failed, ``u`` upstream_failed;
    the rest of ``total`` has not finished yet."""
    return UpstreamStates(total=total, success=s, skipped=k, failed=f, upstream_failed=u)


CASES = [
    # all_success: every upstream succeeded; a failure or a skip decides at once
    (TR.ALL_SUCCESS, up(), WAIT),
    (TR.ALL_SUCCESS, up(s=2), WAIT),
    (TR.ALL_SUCCESS, up(s=3), RUN),
    (TR.ALL_SUCCESS, up(s=1, f=1), UF),
    (TR.ALL_SUCCESS, up(u=1), UF),
    (TR.ALL_SUCCESS, up(k=1), SKIP),
    (TR.ALL_SUCCESS, up(s=2, k=1), SKIP),
    (TR.ALL_SUCCESS, up(f=1, k=1), UF),
    # all_failed: every upstream failed or upstream_failed
    (TR.ALL_FAILED, up(f=3), RUN),
    (TR.ALL_FAILED, up(f=1, u=2), RUN),
    (TR.ALL_FAILED, up(f=2), WAIT),
    (TR.ALL_FAILED, up(f=1, s=1), SKIP),
    (TR.ALL_FAILED, up(k=1), SKIP),
    # all_done: every upstream finished, however
    (TR.ALL_DONE, up(s=1, f=1, k=1), RUN),
    (TR.ALL_DONE, up(u=3), RUN),
    (TR.ALL_DONE, up(s=2), WAIT),
    (TR.ALL_DONE, up(f=2), WAIT),
    # all_skipped: every upstream skipped
    (TR.ALL_SKIPPED, up(k=3), RUN),
    (TR.ALL_SKIPPED, up(k=2), WAIT),
    (TR.ALL_SKIPPED, up(s=1), SKIP),
    (TR.ALL_SKIPPED, up(f=1), SKIP),
    (TR.ALL_SKIPPED, up(u=1, k=1), SKIP),
    # one_success: runs at the first success; skipped if all skipped, else upstream_failed
    (TR.ONE_SUCCESS, up(s=1), RUN),
    (TR.ONE_SUCCESS, up(), WAIT),
    (TR.ONE_SUCCESS, up(f=2), WAIT),
    (TR.ONE_SUCCESS, up(k=3), SKIP),
    (TR.ONE_SUCCESS, up(f=1, k=2), UF),
    (TR.ONE_SUCCESS, up(u=3), UF),
    # one_failed: runs at the first failure (upstream_failed counts); skipped if none
    (TR.ONE_FAILED, up(f=1), RUN),
    (TR.ONE_FAILED, up(u=1), RUN),
    (TR.ONE_FAILED, up(s=2), WAIT),
    (TR.ONE_FAILED, up(s=2, k=1), SKIP),
    # one_done: runs at the first success or failure; upstream_failed ones never ran
    (TR.ONE_DONE, up(s=1), RUN),
    (TR.ONE_DONE, up(f=1), RUN),
    (TR.ONE_DONE, up(k=2), WAIT),
    (TR.ONE_DONE, up(u=1), WAIT),
    (TR.ONE_DONE, up(k=3), SKIP),
    (TR.ONE_DONE, up(u=2, k=1), SKIP),
    # none_failed: nothing failed (skips are fine), once all are done
    (TR.NONE_FAILED, up(s=2, k=1), RUN),
    (TR.NONE_FAILED, up(k=3), RUN),
    (TR.NONE_FAILED, up(s=2), WAIT),
    (TR.NONE_FAILED, up(f=1), UF),
    (TR.NONE_FAILED, up(u=1, s=2), UF),
    # none_failed_min_one_success: as none_failed, but all skipped means skipped
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, up(s=1, k=2), RUN),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, up(k=3), SKIP),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, up(k=2), WAIT),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, up(f=1), UF),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, up(u=1, s=2), UF),
    # none_skipped: nothing skipped (failures are fine), once all are done
    (TR.NONE_SKIPPED, up(s=2, f=1), RUN),
    (TR.NONE_SKIPPED, up(s=1, u=2), RUN),
    (TR.NONE_SKIPPED, up(k=1), SKIP),
    (TR.NONE_SKIPPED, up(s=2), WAIT),
    # always: at once, whatever the upstream tasks do
    (TR.ALWAYS, up(), RUN),
    (TR.ALWAYS, up(f=3), RUN),
    (TR.ALWAYS, up(k=1), RUN),
]


@pytest.mark.parametrize(
    ("rule", "upstream", "expected"),
    CASES,
    ids=[
        f"{rule.value}-s{c.success}k{c.skipped}f{c.failed}u{c.upstream_failed}of{c.total}"
        for rule, c, _ in CASES
    ],
)
def test_decide(rule, upstream, expected):
    assert decide(rule, upstream) is expected


def test_the_table_covers_every_rule():
    assert {rule for rule, _, _ in CASES} == set(TR)
    assert len(TR) == 11


@pytest.mark.parametrize("rule", list(TR))
def test_a_task_without_upstream_tasks_always_runs(rule):
    assert decide(rule, UpstreamStates(total=0)) is RUN


@pytest.mark.parametrize("rule", list(TR))
def test_decide_accepts_the_rule_name_as_a_string(rule):
    assert decide(rule.value, up(s=3)) is decide(rule, up(s=3))


def test_unknown_rule_is_refused_with_its_name():
    with pytest.raises(ValueError, match="unknown trigger rule 'sometimes'"):
        decide("sometimes", up())  # type: ignore[arg-type]


def test_removed_upstream_tasks_are_ignored():
    counts = UpstreamStates(total=3, success=2, removed=1)
    assert decide(TR.ALL_SUCCESS, counts) is RUN
    assert decide(TR.NONE_FAILED_MIN_ONE_SUCCESS, counts) is RUN
    only_skips = UpstreamStates(total=2, skipped=1, removed=1)
    assert decide(TR.NONE_FAILED_MIN_ONE_SUCCESS, only_skips) is SKIP


def test_upstream_states_count_finished_states():
    counts = UpstreamStates(total=6)
    for state in (TI.SUCCESS, TI.SKIPPED, TI.FAILED, TI.UPSTREAM_FAILED, TI.REMOVED):
        counts.add(state)
    counts.add("success")  # a state read back as a plain string counts the same
    assert (counts.success, counts.skipped, counts.failed) == (2, 1, 1)
    assert (counts.upstream_failed, counts.removed) == (1, 1)
    assert counts.done == 6
    assert decide(TR.ALL_DONE, counts) is RUN
