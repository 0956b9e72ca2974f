"""Evaluation metrics as pure functions over references and predictions (no torch, no numpy).

Definitions, so a gate's threshold means one thing:

* accuracy: share of predictions equal to the reference (both stripped of outer whitespace).
* precision / recall / F1 macro: per label, then averaged with equal weight over the labels
  present in the references or the predictions (scikit-learn's default); 0/0 counts as 0.
  Macro F1 is the mean of the per-label F1 scores, not the F1 of the mean P and R.
* exact match: equality after stripping and collapsing runs of whitespace.
* BLEU: corpus BLEU-4 (Papineni et al. 2002) over whitespace tokens, one reference per
  prediction, uniform weights, brevity penalty over the corpus, smoothed with Lin & Och
  (2004) add-one on the 2- to 4-gram precisions (Chen & Cherry 2014, method 2), so a short
  corpus without a 4-gram match does not score 0. A corpus without a unigram match does.
* ROUGE-L: F-measure (beta = 1) of the longest common subsequence of whitespace tokens,
  averaged over the pairs; two empty strings score 1.
* perplexity: exp of the mean token negative log-likelihood over all scored tokens.
* percentiles (latency): linear interpolation between closest ranks (numpy's default).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def matches(references: Sequence[str], predictions: Sequence[str]) -> int:
    """How many predictions equal their reference (outer whitespace ignored)."""
    _same_length(references, predictions)
    return sum(r.strip() == p.strip() for r, p in zip(references, predictions))


def accuracy(references: Sequence[str], predictions: Sequence[str]) -> float:
    return _share(matches(references, predictions), len(references))


def exact_matches(references: Sequence[str], predictions: Sequence[str]) -> int:
    _same_length(references, predictions)
    return sum(_normalized(r) == _normalized(p) for r, p in zip(references, predictions))


def exact_match(references: Sequence[str], predictions: Sequence[str]) -> float:
    return _share(exact_matches(references, predictions), len(references))


def precision_recall_f1_macro(references: Sequence[str], predictions: Sequence[str]) -> tuple[float, float, float]:
    """Macro-averaged precision, recall and F1 over the labels seen in either sequence."""
    _same_length(references, predictions)
    labels = sorted(set(references) | set(predictions))
    if not labels:
        return 0.0, 0.0, 0.0
    tp: Counter[str] = Counter()
    predicted: Counter[str] = Counter(predictions)
    actual: Counter[str] = Counter(references)
    for reference, prediction in zip(references, predictions):
        if reference == prediction:
            tp[reference] += 1
    precisions, recalls, f1s = [], [], []
    for label in labels:
        p = _ratio(tp[label], predicted[label])
        r = _ratio(tp[label], actual[label])
        precisions.append(p)
        recalls.append(r)
        f1s.append(_ratio(2 * p * r, p + r))
    n = len(labels)
    return sum(precisions) / n, sum(recalls) / n, sum(f1s) / n


def confusion_matrix(references: Sequence[str], predictions: Sequence[str], labels: Sequence[str]) -> list[list[int]]:
    """Rows are references, columns predictions, both in ``labels`` order; unknown values are dropped."""
    _same_length(references, predictions)
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for reference, prediction in zip(references, predictions):
        if reference in index and prediction in index:
            matrix[index[reference]][index[prediction]] += 1
    return matrix


def corpus_bleu(references: Sequence[str], predictions: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU-max_n with add-one smoothing above unigrams (see the module docstring)."""
    _same_length(references, predictions)
    matched = [0] * max_n
    total = [0] * max_n
    hyp_len = ref_len = 0
    for reference, prediction in zip(references, predictions):
        ref_tokens, hyp_tokens = reference.split(), prediction.split()
        hyp_len += len(hyp_tokens)
        ref_len += len(ref_tokens)
        for n in range(1, max_n + 1):
            hyp_ngrams = _ngrams(hyp_tokens, n)
            ref_ngrams = _ngrams(ref_tokens, n)
            matched[n - 1] += sum(min(count, ref_ngrams[gram]) for gram, count in hyp_ngrams.items())
            total[n - 1] += max(len(hyp_tokens) - n + 1, 0)
    if hyp_len == 0 or matched[0] == 0:
        return 0.0
    log_precision = math.log(matched[0] / total[0])
    for n in range(1, max_n):
        log_precision += math.log((matched[n] + 1) / (total[n] + 1))
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision / max_n)


def rouge_l(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Mean ROUGE-L F1 over the pairs."""
    _same_length(references, predictions)
    if not references:
        return 0.0
    return sum(rouge_l_pair(r, p) for r, p in zip(references, predictions)) / len(references)


def rouge_l_pair(reference: str, prediction: str) -> float:
    ref_tokens, hyp_tokens = reference.split(), prediction.split()
    if not ref_tokens and not hyp_tokens:
        return 1.0
    lcs = longest_common_subsequence(ref_tokens, hyp_tokens)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp_tokens), lcs / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def longest_common_subsequence(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the LCS, in O(len(a) * len(b)) time and O(len(b)) memory."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def perplexity(total_nll: float, tokens: int) -> float:
    """exp(total negative log-likelihood / tokens); infinite when nothing was scored."""
    if tokens <= 0:
        return math.inf
    return math.exp(total_nll / tokens)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _normalized(text: str) -> str:
    return " ".join(text.split())


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _share(count: int, n: int) -> float:
    return count / n if n else 0.0


def _same_length(references: Sequence[str], predictions: Sequence[str]) -> None:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
