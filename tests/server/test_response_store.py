"""The response store behind previous_response_id: bounded by count, size and time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmstream_server.response_store import ResponseStore


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


ITEM = [{"type": "message", "role": "user", "content": "hello"}]


def test_get_returns_a_copy_and_unknown_is_none() -> None:
    store = ResponseStore()
    assert store.put("r1", ITEM)
    got = store.get("r1")
    assert got == ITEM and got is not ITEM
    got.append({"x": 1})  # type: ignore[union-attr]
    assert store.get("r1") == ITEM and store.get("nope") is None


def test_oldest_go_first_past_the_count() -> None:
    store = ResponseStore(max_responses=2)
    for name in ("a", "b", "c"):
        store.put(name, ITEM)
    assert store.get("a") is None and store.get("b") == ITEM and store.get("c") == ITEM and len(store) == 2


def test_size_bound_and_an_entry_too_large_alone() -> None:
    store = ResponseStore(max_bytes=150)
    assert store.put("a", ITEM) and store.put("b", ITEM)
    assert store.put("c", ITEM) and store.get("a") is None and store.bytes <= 150
    assert not store.put("big", [{"content": "x" * 500}]) and store.get("big") is None


def test_entries_expire() -> None:
    clock = Clock()
    store = ResponseStore(ttl_s=10, clock=clock)
    store.put("a", ITEM)
    clock.now = 5
    store.put("b", ITEM)
    clock.now = 10.5
    assert store.get("a") is None and store.get("b") == ITEM
    clock.now = 16
    assert store.get("b") is None and len(store) == 0 and store.bytes == 0


def test_zero_capacity_stores_nothing_and_bad_bounds_raise() -> None:
    assert not ResponseStore(max_responses=0).put("a", ITEM)
    with pytest.raises(ValueError):
        ResponseStore(ttl_s=0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 60), st.floats(0, 5)), max_size=40))
def test_bounds_always_hold(ops: list[tuple[str, int, float]]) -> None:
    clock = Clock()
    store = ResponseStore(max_responses=3, max_bytes=150, ttl_s=7, clock=clock)
    for name, size, step in ops:
        clock.now += step
        store.put(name, [{"c": "x" * size}])
        assert len(store) <= 3 and 0 <= store.bytes <= 150


def test_the_response_object_is_kept_counted_and_deleted() -> None:
    store = ResponseStore()
    assert store.put("r1", ITEM, {"id": "r1", "output": []})
    assert store.response("r1") == {"id": "r1", "output": []} and store.get("r1") == ITEM
    assert store.bytes > len('[{"type": "message", "role": "user", "content": "hello"}]')
    assert store.delete("r1") and not store.delete("r1")
    assert store.response("r1") is None and store.get("r1") is None and store.bytes == 0
    assert store.put("r2", ITEM) and store.response("r2") is None  # stored without its object
