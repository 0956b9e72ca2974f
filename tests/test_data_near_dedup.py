"""Near-dedup: MinHash estimates Jaccard, LSH finds the pairs, the first of each group is kept."""

from __future__ import annotations

import random

import numpy as np
import pytest

from runners.data.near_dedup import MinHashLSH, lsh_bands, near_dedup, near_duplicates, normalize, signatures
from runners.data.table import Table

WORDS = ("payment card app crash login export sync offline billing refund plan price support hours dark mode "
         "invoice account password reset email upload photo freeze page settings profile error saving").split()


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def shingles(text: str, k: int) -> set[str]:
    text = normalize(text)
    return {text[i:i + k] for i in range(len(text) - k + 1)} or {text}


def jaccard(a: str, b: str, k: int = 5) -> float:
    sa, sb = shingles(a, k), shingles(b, k)
    return len(sa & sb) / len(sa | sb)


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
