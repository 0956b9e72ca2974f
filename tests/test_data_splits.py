"""Splits: disjoint and covering, deterministic, duplicates together, stable, stratified."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from runners.data.splits import assign_splits
from runners.data.table import Table

COLUMNS = {"text": "string", "label": "string"}


def make_table(n: int, seed: int = 0, labels: tuple[str, ...] = ("a", "b", "c"), weights=None) -> Table:
    rng = random.Random(seed)
    rows = [{"text": f"row {rng.getrandbits(48)}", "label": rng.choices(labels, weights)[0]} for _ in range(n)]
    return Table(COLUMNS, rows, [f"f:{i + 1}" for i in range(n)])


def split_of(picked: dict[str, list[int]]) -> dict[int, str]:
    return {i: name for name, indices in picked.items() for i in indices}


CASES = [({"train": 0.8, "eval": 0.2}, None), ({"train": 0.7, "eval": 0.2, "test": 0.1}, None),
         ({"train": 0.8, "eval": 0.2}, "label"), ({"train": 0.6, "eval": 0.3, "test": 0.1}, "label")]


@pytest.mark.parametrize(("fractions", "stratify"), CASES)
def test_splits_are_disjoint_cover_every_row_and_are_sorted(fractions, stratify):
    for seed in range(20):
        table = make_table(random.Random(seed).randint(1, 300), seed)
        picked = assign_splits(table, fractions, seed, ["text"], stratify)
        every = [i for indices in picked.values() for i in indices]
        assert sorted(every) == list(range(len(table)))          # covering, and no index twice
        assert all(indices == sorted(indices) for indices in picked.values())


@pytest.mark.parametrize(("fractions", "stratify"), CASES)
def test_the_same_input_and_seed_give_the_same_splits_and_another_seed_does_not(fractions, stratify):
    table = make_table(500, 1)
    first = assign_splits(table, fractions, 42, ["text"], stratify)
    assert assign_splits(make_table(500, 1), fractions, 42, ["text"], stratify) == first
    assert assign_splits(table, fractions, 43, ["text"], stratify) != first


@pytest.mark.parametrize("stratify", [None, "label"])
def test_copies_of_a_row_always_land_in_the_same_split(stratify):
    base = make_table(200, 2)
    rows = base.rows + [dict(r) for r in base.rows[:100]] * 3
    table = Table(COLUMNS, rows, [f"f:{i}" for i in range(len(rows))])
    where = split_of(assign_splits(table, {"train": 0.5, "eval": 0.5}, 7, ["text"], stratify))
    for i in range(100):
        assert where[i] == where[200 + i] == where[300 + i] == where[400 + i]


def test_rows_hash_on_the_key_columns_only():
    rows = [{"text": "same", "label": "a"}, {"text": "same", "label": "b"}] * 50
    table = Table(COLUMNS, rows, [f"f:{i}" for i in range(100)])
    assert len(set(split_of(assign_splits(table, {"train": 0.5, "eval": 0.5}, 0, ["text"])).values())) == 1


def test_without_stratification_adding_rows_moves_no_existing_row():
    table = make_table(400, 3)
    before = split_of(assign_splits(table, {"train": 0.8, "eval": 0.2}, 5, ["text", "label"]))
    grown = Table(COLUMNS, table.rows + make_table(300, 4).rows, table.origins + [f"g:{i}" for i in range(300)])
    after = split_of(assign_splits(grown, {"train": 0.8, "eval": 0.2}, 5, ["text", "label"]))
    assert all(after[i] == before[i] for i in range(400))


def test_with_stratification_adding_rows_moves_only_rows_next_to_a_cut():
    table = make_table(600, 5)
    fractions = {"train": 0.8, "eval": 0.2}
    before = split_of(assign_splits(table, fractions, 5, ["text"], "label"))
    extra = make_table(30, 6)
    grown = Table(COLUMNS, table.rows + extra.rows, table.origins + extra.origins)
    after = split_of(assign_splits(grown, fractions, 5, ["text"], "label"))
    moved = sum(after[i] != before[i] for i in range(600))
    assert moved <= len(extra)           # at most one per added row, not a reshuffle


def test_stratification_keeps_label_proportions_in_every_split():
    table = make_table(1000, 8, labels=("common", "rare", "tiny"), weights=(90, 9, 1))
    fractions = {"train": 0.7, "eval": 0.2, "test": 0.1}
    picked = assign_splits(table, fractions, 1, ["text"], "label")
    totals = Counter(r["label"] for r in table.rows)
    for name, indices in picked.items():
        counts = Counter(table.rows[i]["label"] for i in indices)
        for label, total in totals.items():
            assert abs(counts[label] - fractions[name] * total) <= 1, (name, label, counts[label], total)


def test_unstratified_sizes_follow_the_fractions():
    table = make_table(5000, 9)
    picked = assign_splits(table, {"train": 0.8, "eval": 0.2}, 3, ["text"])
    assert abs(len(picked["eval"]) / 5000 - 0.2) < 0.02     # 3.5 standard deviations


@pytest.mark.parametrize("stratify", [None, "label"])
def test_fractions_below_one_leave_the_rest_out(stratify):
    table = make_table(1000, 10)
    picked = assign_splits(table, {"train": 0.5, "eval": 0.1}, 0, ["text"], stratify)
    assert 0.55 < sum(map(len, picked.values())) / 1000 < 0.65


def _one_row_at_a_time(hashes: list[int], strata: list[int] | None, bounds: list[float]) -> list[int]:
    """The rules as the one-table prepare ran them, a row at a time: the reference for ``choose_splits``."""
    from bisect import bisect_right
    from collections import defaultdict

    if strata is None:
        return [bisect_right(bounds, h / 2**64) for h in hashes]
    chosen = [len(bounds)] * len(hashes)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, stratum in enumerate(strata):
        groups[stratum].append(i)
    for members in groups.values():
        members.sort(key=hashes.__getitem__)
        start, n = 0, len(members)
        while start < n:
            end = start + 1
            while end < n and hashes[members[end]] == hashes[members[start]]:
                end += 1
            for i in members[start:end]:
                chosen[i] = bisect_right(bounds, (start + end) / 2 / n)
            start = end
    return chosen


@pytest.mark.parametrize("stratified", [False, True])
def test_the_vectorized_choice_is_the_row_at_a_time_one(stratified):
    """Copies (runs of equal hashes) included, strata of every size, fractions that leave rows out."""
    import numpy as np

    from runners.data.splits import choose_splits, split_bounds

    rng = random.Random(21)
    hashes = [rng.getrandbits(64) for _ in range(5000)]
    hashes += [rng.choice(hashes) for _ in range(2000)] + [2**64 - 1, 0, 2**63]
    strata = [rng.choice([0, 0, 0, 1, 2, 7]) for _ in hashes] + [9] if stratified else None
    hashes += [rng.getrandbits(64)]
    bounds = split_bounds({"train": 0.7, "eval": 0.2, "test": 0.05})
    got = choose_splits(np.array(hashes, dtype=np.uint64), None if strata is None else np.array(strata, dtype=np.int32),
                        bounds)
    assert got.tolist() == _one_row_at_a_time(hashes, strata, bounds)
