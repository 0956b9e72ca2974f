"""Near-dedup: MinHash estimates Jaccard, LSH finds the pairs, the first of each group is kept."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

from runners.data.near_dedup import (MinHashLSH, band_keys, candidate_components, hash_block, lsh_bands, near_dedup,
                                     near_duplicates, near_duplicates_blocked, near_duplicates_hashed, signatures)
from runners.data.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from corpus import generate, jaccard, precision_recall  # noqa: E402  (bench/corpus.py: the planted corpus)

WORDS = ("payment card app crash login export sync offline billing refund plan price support hours dark mode "
         "invoice account password reset email upload photo freeze page settings profile error saving").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def table_of(texts: list[str]) -> Table:
    return Table({"text": "string"}, [{"text": t} for t in texts], [f"f:{i + 1}" for i in range(len(texts))])


def test_signature_agreement_estimates_jaccard():
    rng = random.Random(7)
    errors = []
    for _ in range(200):
        a = sentence(rng, 20)
        words = a.split()
        for _ in range(rng.randint(0, 12)):
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        b = " ".join(words)
        sig = signatures([a, b], 256, 5)
        estimate = np.count_nonzero(sig[0] == sig[1]) / 256
        errors.append(estimate - jaccard(a, b))
    errors = np.array(errors)
    # one estimate's standard error is at most 0.5/sqrt(256) = 0.031: unbiased and that tight on average
    assert abs(errors.mean()) < 0.01
    assert np.sqrt((errors**2).mean()) < 0.035


def test_normalization_ignores_case_and_whitespace():
    sig = signatures(["Login  button\tdoes NOTHING", "login button does nothing"], 64, 5)
    assert (sig[0] == sig[1]).all()


def test_short_and_empty_texts_have_signatures():
    sig = signatures(["", "ab", "ab", "abc"], 32, 5)
    assert sig.shape == (4, 32)
    assert (sig[1] == sig[2]).all() and not (sig[1] == sig[3]).all()
    assert signatures([], 32, 5).shape == (0, 32)


def test_lsh_bands_put_the_s_curve_at_the_threshold():
    for threshold in (0.5, 0.7, 0.9):
        b, r = lsh_bands(threshold, 128)
        assert b * r <= 128
        assert abs((1 / b) ** (1 / r) - threshold) < 0.1   # where the candidate probability turns


def test_near_duplicates_are_removed_the_first_is_kept_and_distinct_rows_stay():
    rng = random.Random(3)
    originals = [sentence(rng, 15) for _ in range(200)]
    copies = [t + "!" for t in originals[:50]]             # one extra character: Jaccard ~0.97
    texts = originals + copies
    rng.shuffle(texts)
    out, report = near_dedup(table_of(texts), "text", 0.9, 128, 5)
    kept = [r["text"] for r in out.rows]
    assert len(kept) == 200 and report.removed == 50
    for original in originals[:50]:                        # of each pair, the one seen first survives
        first = min(texts.index(original), texts.index(original + "!"))
        assert texts[first] in kept
    assert all(t in kept for t in originals[50:])
    assert report.details["bands"] * report.details["rows_per_band"] <= 128
    assert all(e["similarity"] >= 0.9 for e in report.details["examples"])


def test_rows_below_the_threshold_are_kept():
    a = "the quick brown fox jumps over the lazy dog near the river bank"
    b = "the quick brown fox jumps over the lazy cat near the river side"
    assert jaccard(a, b) < 0.8
    out, _ = near_dedup(table_of([a, b]), "text", 0.9, 128, 5)
    assert len(out) == 2


def test_a_chain_does_not_remove_a_row_unlike_the_kept_one():
    base = "abcdefghijklmnopqrstuvwxyz0123456789&%$#"            # 40 distinct characters: 36 shingles
    a, b, c = base, "+=*~" + base[4:], "+=*~" + base[4:-4] + "<>?/"
    assert jaccard(a, b) >= 0.78 and jaccard(b, c) >= 0.78 and jaccard(a, c) < 0.66   # a~b, b~c, a!~c at 0.7
    params = MinHashLSH(0.7, 1024, 5, *lsh_bands(0.7, 1024))      # many hashes: candidates almost surely found
    dropped = near_duplicates([a, b, c], params)
    assert 1 in dropped and 2 not in dropped             # b goes for a; c is compared with kept rows only


@pytest.mark.parametrize("threshold", [0.6, 0.9])
def test_results_are_deterministic(threshold):
    rng = random.Random(11)
    texts = [sentence(rng, 8) for _ in range(300)]
    texts += [t.replace(" ", "  ", 1) + " x" for t in texts[:60]]
    first = near_dedup(table_of(texts), "text", threshold, 64, 4)
    second = near_dedup(table_of(list(texts)), "text", threshold, 64, 4)
    assert first[0].rows == second[0].rows and first[1] == second[1]


def sequential_reference(texts: list[str], params: MinHashLSH) -> dict[int, tuple[int, float]]:
    """The one-table algorithm as it was before blocks: every row in order, buckets of kept rows per band."""
    sig = signatures(texts, params.num_perm, params.shingle_size)
    keys = band_keys(sig, params.bands, params.rows_per_band).tolist()
    buckets: list[dict[int, list[int]]] = [{} for _ in range(params.bands)]
    dropped: dict[int, tuple[int, float]] = {}
    for i, row_keys in enumerate(keys):
        match = None
        for band, key in enumerate(row_keys):
            for j in buckets[band].get(key, ()):
                similarity = float(np.count_nonzero(sig[i] == sig[j])) / params.num_perm
                if similarity >= params.threshold:
                    match = (j, similarity)
                    break
            if match:
                break
        if match:
            dropped[i] = match
        else:
            for band, key in enumerate(row_keys):
                buckets[band].setdefault(key, []).append(i)
    return dropped


def planted_texts(seed: int, rows: int) -> list[str]:
    """The bench corpus (exact copies, near copies, chains a~b~c, hard negatives) plus chains at every step."""
    rng = random.Random(seed)
    texts = generate(rows, seed=seed).texts
    for _ in range(rows // 20):                      # longer chains: each link one more character changed
        t = list(sentence(rng, 12))
        for _ in range(rng.randint(2, 5)):
            texts.append("".join(t))
            t[rng.randrange(len(t))] = rng.choice("xyzq")
    rng.shuffle(texts)
    return texts


def split(n: int, how: str, rng: random.Random) -> list[np.ndarray]:
    ids = np.arange(n, dtype=np.int64)
    if how == "one":
        return [ids]
    if how == "seven":
        return np.array_split(ids, 7)
    if how == "random-sizes":
        cuts = sorted(rng.sample(range(n + 1), rng.randint(2, 30)))
        return np.split(ids, cuts)                  # may hold empty blocks
    blocks = [[] for _ in range(5)]                 # "scattered": rows dealt to blocks at random
    for i in range(n):
        blocks[rng.randrange(5)].append(i)
    return [np.array(b, dtype=np.int64) for b in blocks]


PARAMS = [(0.9, 128, 5), (0.6, 64, 4)]   # the default, and a low threshold that makes big components


@pytest.mark.parametrize("threshold,num_perm,k", PARAMS)
@pytest.mark.parametrize("how", ["one", "seven", "random-sizes", "scattered"])
def test_blocked_gives_exactly_the_sequential_result(threshold, num_perm, k, how):
    params = MinHashLSH(threshold, num_perm, k, *lsh_bands(threshold, num_perm))
    for seed in range(3):
        texts = planted_texts(seed, 1500)
        expected = sequential_reference(texts, params)
        assert len(expected) > 300                       # the corpus has near-duplicates to find
        _, starts = candidate_components(*hash_block(np.arange(len(texts)), texts, params).triples())
        assert (np.diff(starts) > 2).sum() > 50              # the per-component loop runs, not only pairs
        rng = random.Random(seed)
        blocks = [(ids, [texts[i] for i in ids]) for ids in split(len(texts), how, rng)]
        got = near_duplicates_blocked(blocks, params)
        assert list(got.items()) == list(expected.items())      # same rows, matches, estimates and order
        assert near_duplicates(texts, params) == expected


@pytest.mark.parametrize("threshold,num_perm,k", PARAMS)
def test_the_order_of_the_blocks_changes_nothing(threshold, num_perm, k):
    params = MinHashLSH(threshold, num_perm, k, *lsh_bands(threshold, num_perm))
    texts = planted_texts(5, 2000)
    rng = random.Random(5)
    hashed = [hash_block(ids, [texts[i] for i in ids], params) for ids in split(len(texts), "random-sizes", rng)]
    expected = near_duplicates_hashed(hashed, params)
    for _ in range(4):
        rng.shuffle(hashed)
        assert list(near_duplicates_hashed(hashed, params).items()) == list(expected.items())
    assert expected == sequential_reference(texts, params)


def test_a_rows_hashes_do_not_depend_on_its_block(monkeypatch):
    params = MinHashLSH(0.9, 128, 5, *lsh_bands(0.9, 128))
    texts = planted_texts(2, 300)
    whole = hash_block(np.arange(len(texts)), texts, params)
    parts = [hash_block(ids, [texts[i] for i in ids], params) for ids in np.array_split(np.arange(len(texts)), 9)]
    assert (np.concatenate([p.signatures for p in parts]) == whole.signatures).all()
    assert (np.concatenate([p.keys for p in parts]) == whole.keys).all()
    monkeypatch.setattr("runners.data.near_dedup._ROWS_AT_ONCE", 7)     # signatures() shingles 7 rows at a time
    assert (hash_block(np.arange(len(texts)), texts, params).signatures == whole.signatures).all()


def test_candidate_components_join_rows_through_shared_buckets_only():
    triples = [(0, 11, 5), (0, 11, 9), (1, 22, 9), (1, 22, 2),    # 5-9 in band 0, 9-2 in band 1: one component
               (0, 33, 8), (0, 33, 7), (2, 33, 7),                 # 7-8; 7's key 33 in band 2 is a different bucket
               (1, 44, 3), (2, 11, 4), (0, 55, 6), (1, 55, 1)]     # alone in their buckets: never candidates
    bands, keys, ids = (np.array(col, dtype=dtype) for col, dtype in zip(zip(*triples), (np.int64, np.uint64, np.int64)))
    members, starts = candidate_components(bands, keys, ids)
    assert members.tolist() == [2, 5, 9, 7, 8] and starts.tolist() == [0, 3]
    empty = candidate_components(bands[-3:], keys[-3:], ids[-3:])
    assert empty[0].size == 0 and empty[1].size == 0


def test_precision_and_recall_on_the_planted_corpus():
    corpus = generate(20_000, seed=0)
    assert len(corpus.truth) > 4000 and corpus.counts["chain"] > 50 and corpus.counts["hard"] > 1000
    params = MinHashLSH(0.9, 128, 5, *lsh_bands(0.9, 128))
    dropped = near_duplicates(corpus.texts, params)
    precision, recall = precision_recall(dropped, corpus.truth)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    hard = {i for i, kind in enumerate(corpus.kind) if kind == "hard"}
    assert len(hard & set(dropped)) == 0                 # rows alike in words but below the threshold stay


@pytest.mark.parametrize("block_rows, chunk", [(10_000, 1 << 16), (97, 1 << 16), (250, 7)])
def test_the_streaming_pass_decides_as_one_table_whatever_the_blocks_and_chunks(tmp_path, monkeypatch, block_rows, chunk):
    """Blocks of any size, components decided a few rows at a time, nulls among the rows: the same drops."""
    import runners.data.near_dedup_stream as stream

    monkeypatch.setattr(stream, "CHUNK_MEMBERS", chunk)
    texts = generate(2000, seed=3).texts
    rows = [{"text": None if i % 41 == 0 else t} for i, t in enumerate(texts)]
    params = MinHashLSH(0.8, 64, 5, *lsh_bands(0.8, 64))
    kept = [i for i, row in enumerate(rows) if row["text"] is not None]
    expected = near_duplicates_blocked([(np.array(kept), [rows[i]["text"] for i in kept])], params)
    blocks = [Table({"text": "string"}, rows[s:s + block_rows], [f"f:{i + 1}" for i in range(s, s + len(rows[s:s + block_rows]))],
                    list(range(s, s + len(rows[s:s + block_rows])))) for s in range(0, len(rows), block_rows)]
    one = stream.NearDedupPass(tmp_path / "pass", "text", 0.8, 64, 5)
    for block in blocks:
        one.add(block)
    members, starts = one.candidates()
    assert len(members) and len(starts) > 1, "the corpus has near-duplicates to find"
    assert one.decide(members, starts, blocks) == expected and len(expected) > 50
    assert list((tmp_path / "pass").iterdir()) == [], "the pass leaves no file behind"
