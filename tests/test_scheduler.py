"""The apply loop's decisions without Ray: what is ready, what a failure blocks, what is retried, when it is done."""

from __future__ import annotations

from runners.scheduler import Schedule

#   a -> b -> d
#   a -> c -> d      e (independent)
INPUTS = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c"), "e": ()}


def test_nodes_are_ready_in_plan_order_once_every_input_landed():
    s = Schedule(["a", "b", "c", "d", "e"], INPUTS)
    assert s.ready() == ["a", "e"]
    assert s.start("a") == 1 and s.start("e") == 1
    assert s.ready() == [] and not s.done and not s.stuck
    s.succeeded("a")
    assert s.ready() == ["b", "c"]
    for nid in ("b", "c"):
        s.start(nid)
        s.succeeded(nid)
    assert s.ready() == ["d"]
    s.start("d")
    s.succeeded("d")
    s.succeeded("e")
    assert s.done


def test_inputs_outside_the_plan_have_landed_already():
    s = Schedule(["d"], INPUTS)  # b and c are not in this plan: applied earlier
    assert s.ready() == ["d"]


def test_a_failure_blocks_everything_downstream_and_names_the_blocker():
    s = Schedule(["a", "b", "c", "d", "e"], INPUTS)
    s.start("a")
    assert s.failed_attempt("a", retryable=True) is False  # no retries allowed
    assert s.blocked() == [("b", "a"), ("c", "a"), ("d", "b")]
    assert s.ready() == ["e"] and s.failed == {"a", "b", "c", "d"}
    s.start("e")
    s.succeeded("e")
    assert s.done


def test_a_retryable_failure_is_retried_up_to_its_limit_then_fails():
    s = Schedule(["a", "b"], INPUTS, retries={"a": 2})
    assert s.start("a") == 1 and s.failed_attempt("a", retryable=True) is True
    assert s.start("a") == 2 and s.failed_attempt("a", retryable=True) is True
    assert s.start("a") == 3 and s.failed_attempt("a", retryable=True) is False
    assert s.blocked() == [("b", "a")] and s.done


def test_a_failure_that_cannot_succeed_again_is_not_retried():
    s = Schedule(["a"], INPUTS, retries={"a": 5})
    s.start("a")
    assert s.failed_attempt("a", retryable=False) is False and s.done


def test_a_gate_that_did_not_pass_landed_but_blocks_its_dependents():
    s = Schedule(["a", "b"], INPUTS)
    s.start("a")
    s.settle_failed("a")
    assert s.blocked() == [("b", "a")]


def test_nodes_that_wait_on_each_other_are_stuck_not_spinning():
    s = Schedule(["a", "b"], {"a": ("b",), "b": ("a",)})  # a cycle no plan should hold
    assert s.ready() == [] and s.stuck and not s.done
