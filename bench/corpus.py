"""A synthetic text corpus with planted near-duplicates and its ground truth, for near-dedup.

Rows are about 120 bytes of ASCII words from a made-up vocabulary, with a label, and now and
then an e-mail address or a phone number (the PII transforms' food). Rows come in families,
shuffled over the whole corpus:

- ``single``: one row.
- ``exact``: a row and one or two exact copies.
- ``near``: a row and one or two copies with small edits at its ends, in its case or spacing
  (true Jaccard of 5-character shingles >= ``NEAR_MIN``).
- ``hard``: a row and a copy with a few words replaced (true Jaccard in [0.4, ``HARD_MAX``]):
  they look alike but must both stay.
- ``chain``: a, b, c with a~b and b~c above the threshold but a~c below it: which of them go
  depends on the order they come in.

The ground truth is the set of rows that near-dedup's rule drops when it is given the TRUE
Jaccard similarity: rows are visited in order, and a row goes when an earlier kept row of
its family is at or above the threshold. Similarities are computed for the members of a
family only; rows of different families share (almost) no shingles, as their words are drawn
independently from a vocabulary of thousands.

``python bench/data_bench.py`` times near-dedup on it; tests import it through ``sys.path``.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

import numpy as np

NEAR_MIN = 0.96      # planted near-duplicates: above the threshold 0.9, where LSH (5 bands x 25) finds ~90%+
HARD_MAX = 0.80      # hard negatives: clearly below it
LABELS = ("billing", "bug", "account", "feature", "question")
KINDS = {"single": 0.57, "exact": 0.10, "near": 0.20, "hard": 0.12, "chain": 0.01}
TARGET_LENGTH = 120


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def shingles(text: str, k: int = 5) -> set[str]:
    text = normalize(text)
    return {text[i:i + k] for i in range(len(text) - k + 1)} or {text}


def jaccard(a: str, b: str, k: int = 5) -> float:
    """The true Jaccard similarity of the two texts' ``k``-character shingle sets (after normalization)."""
    sa, sb = shingles(a, k), shingles(b, k)
    return len(sa & sb) / len(sa | sb)


@dataclass
class Corpus:
    texts: list[str]
    labels: list[str]
    family: np.ndarray                  # (rows,) the family each row was planted in
    kind: list[str]                     # each row's family kind
    truth: np.ndarray                   # sorted ids of the rows the rule drops under true Jaccard
    truth_similarity: np.ndarray        # for each, the highest true Jaccard with an earlier kept row of its family
    counts: dict[str, int] = field(default_factory=dict)    # families per kind

    def rows(self) -> list[dict[str, str]]:
        return [{"text": t, "label": label} for t, label in zip(self.texts, self.labels)]


def precision_recall(dropped, truth: np.ndarray) -> tuple[float, float]:
    """Of the rows dropped, the fraction the ground truth drops; of those, the fraction dropped."""
    dropped = np.fromiter(dropped, dtype=np.int64)
    hits = len(np.intersect1d(dropped, truth))
    return (hits / len(dropped) if len(dropped) else 1.0), (hits / len(truth) if len(truth) else 1.0)


def _vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    syllables = [c + v for c in "bcdfghklmnprstvwz" for v in "aeiou"] + ["th", "ch", "st", "er", "an"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def _pii(rng: random.Random) -> str:
    if rng.random() < 0.5:
        name = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 7)))
        return f"{name}.{rng.choice(('smith', 'lee', 'garcia', 'kim'))}{rng.randint(1, 99)}@example.com"
    return f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def _base_text(rng: random.Random, vocab: list[str]) -> str:
    words: list[str] = []
    length = -1
    pii_at = rng.randrange(8) if rng.random() < 0.15 else -1
    while length < TARGET_LENGTH - 6:
        word = _pii(rng) if len(words) == pii_at else rng.choice(vocab)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def _small_edit(rng: random.Random, text: str) -> str:
    edits = (
        lambda t: t + rng.choice(("!", "?", " ok", ".", " pls")),
        lambda t: rng.choice(("re: ", "fw ", "> ")) + t,
        lambda t: t.upper() if rng.random() < 0.3 else t[0].upper() + t[1:],
        lambda t: t.replace(" ", "  ", rng.randint(1, 3)),
        lambda t: t[:-2] + rng.choice(string.ascii_lowercase) + t[-1:],
        lambda t: t[:1] + rng.choice(string.ascii_lowercase) + t[2:],
        lambda t: t.rsplit(" ", 1)[0] if len(t.rsplit(" ", 1)[-1]) <= 3 else t + "!!",
    )
    for _ in range(1 if rng.random() < 0.8 else 2):
        text = rng.choice(edits)(text)
    return text


def _replace_words(rng: random.Random, text: str, vocab: list[str]) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(3, 5)):
        words[rng.randrange(len(words))] = rng.choice(vocab)
    return " ".join(words)


def _swap_end(rng: random.Random, text: str, first: bool, n: int = 4) -> str:
    fresh = "".join(rng.choices(string.ascii_lowercase, k=n))
    return fresh + text[n:] if first else text[:-n] + fresh


def _family(rng: random.Random, kind: str, vocab: list[str]) -> list[str]:
    while True:             # draw again until the planted similarities are what the kind promises
        a = _base_text(rng, vocab)
        if kind == "single":
            return [a]
        if kind == "exact":
            return [a] * rng.randint(2, 3)
        if kind == "near":
            copies = [_small_edit(rng, a) for _ in range(rng.randint(1, 2))]
            if all(jaccard(a, c) >= NEAR_MIN for c in copies):
                return [a, *copies]
        elif kind == "hard":
            b = _replace_words(rng, a, vocab)
            if 0.4 <= jaccard(a, b) <= HARD_MAX:
                return [a, b]
        else:
            b = _swap_end(rng, a, first=True)
            c = _swap_end(rng, b, first=False)
            if jaccard(a, b) >= 0.92 and jaccard(b, c) >= 0.92 and jaccard(a, c) <= 0.88:
                return [a, b, c]


def ground_truth(texts: list[str], family: np.ndarray, threshold: float, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The rows dropped by the keep-first-kept rule under true Jaccard, planted families only, and the
    highest true similarity of each with an earlier kept row."""
    order = np.lexsort((np.arange(len(family)), family))
    members = np.split(order, np.flatnonzero(np.diff(family[order])) + 1)
    dropped: dict[int, float] = {}
    for rows in members:
        if len(rows) < 2:
            continue
        kept: list[int] = []
        for i in sorted(rows.tolist()):
            best = max((jaccard(texts[j], texts[i], k) for j in kept), default=0.0)
            if best >= threshold:
                dropped[i] = best
            else:
                kept.append(i)
    ids = sorted(dropped)
    return np.array(ids, dtype=np.int64), np.array([dropped[i] for i in ids])


def generate(rows: int, seed: int = 0, threshold: float = 0.9, shingle_size: int = 5) -> Corpus:
    """``rows`` rows (exactly) in shuffled families, with the ground truth at ``threshold``."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    kinds, weights = zip(*KINDS.items())
    texts: list[str] = []
    family: list[int] = []
    kind_of: list[str] = []
    counts = dict.fromkeys(kinds, 0)
    while len(texts) < rows:
        kind = rng.choices(kinds, weights)[0]
        members = _family(rng, kind, vocab)[: rows - len(texts)]
        counts[kind] += 1
        texts += members
        family += [sum(counts.values())] * len(members)
        kind_of += [kind] * len(members)
    labels = [rng.choice(LABELS) for _ in range(rows)]
    order = list(range(rows))
    rng.shuffle(order)
    texts = [texts[i] for i in order]
    fam = np.array(family, dtype=np.int64)[order]
    kind_of = [kind_of[i] for i in order]
    return Corpus(texts, labels, fam, kind_of, *ground_truth(texts, fam, threshold, shingle_size), counts)
