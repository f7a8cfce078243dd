"""Research: variants of Attract-Repel's repel step on GCIDE with WordNet's relations.

The paper's repel step pushes a repelled pair apart and pulls each word toward its one farthest candidate, which
among the vocabulary negatives is mostly a rare word, another at each batch; on GCIDE that drags the words a repel
line names, and the words related to them, in directions the batches' order draws (WS-353 falls, by a seed's luck).
The product (``swapvec.specialize._batch_step``) pulls toward the mean of the 100 farthest candidates instead. Each
row here swaps in a step, on the constrained words of the relations lexicon (``specialize_bench.py --relations``:
synonyms and similar-to pairs attracted, indirect antonyms repelled, the benchmark pairs removed), without the repel
promise, and prints, over every set of vectors and seed (the batches' order), SimLex-999 (mean and lowest), WS-353's
change from the vectors before (mean and worst) and WordNet's direct antonyms' mean cosine:

    .venv/bin/python bench/repel_variants.py --vectors OUTPUT/baseline_vectors [MORE ...] --seeds 1 2

The variants: the mean of how many farthest candidates; the number of vocabulary negatives; the words that only
repel lines name held harder; the pair pushed apart without the pull toward the farthest candidate, always or while
its cosine is above a ceiling. The negatives are drawn by numpy's generator, not by the product's hash, so the
product's row differs from a product run a little. ``--only`` keeps the rows whose name holds one of its texts.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import NamedTuple

import numpy as np
from gensim.models import KeyedVectors
from specialize_bench import benchmark_pairs, load_vectors, wordnet_pairs

import swapvec.specialize as core
from swapvec.evaluate import benchmarks
from swapvec.similarity.nearest import unit_rows


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    pull: float = 0.45
    negatives: int = 100
    #: The pull on words that no attract pair names, as a multiple of ``pull``.
    lone: float = 1.0
    #: Push the pair apart without pulling each word toward its farthest candidate.
    apart_only: bool = False
    #: Stop pushing a pair once its cosine is at most this.
    ceiling: float | None = None
    #: Draw the vocabulary negatives from this many most frequent words only (the product: from all).
    frequent: int | None = None
    #: Pull toward the mean of this many farthest candidates (the paper: 1; the product: 100).
    farthest: int = 1


STEPS = [
    Step("the mean of the 100 farthest candidates (the product)", farthest=100),
    Step("the mean of the 30 farthest candidates", farthest=30),
    Step("the mean of the 10 farthest candidates", farthest=10),
    Step("the paper's: the one farthest, 100 vocabulary negatives (the product's earlier repel step)"),
    Step("the paper's, 30 vocabulary negatives", negatives=30),
    Step("the paper's, 300 vocabulary negatives", negatives=300),
    Step("the paper's, negatives drawn from the 5,000 most frequent other words", frequent=5000),
    Step("words that only repel lines name held 2x harder", lone=2.0),
    Step("pushed apart only", apart_only=True),
    Step("pushed apart only", pull=0.8, apart_only=True),
    Step("pushed apart only, while the pair's cosine is above -0.1", apart_only=True, ceiling=-0.1),
    Step("pushed apart only, while above -0.2", apart_only=True, ceiling=-0.2),
    Step("the paper's, while above -0.2", ceiling=-0.2),
]


def batch_step(step: Step, weight: np.ndarray):
    """``_batch_step`` with ``step``'s repel rule and a per-row pull ``weight``; the attract rule is the product's."""

    def run(x, fixed, pairs, attract, anchor, sums, p):
        words = np.unique(pairs)
        left, right = np.searchsorted(words, pairs[:, 0]), np.searchsorted(words, pairs[:, 1])
        xw = x[words]
        candidates = np.concatenate([xw, fixed])
        sims = xw @ candidates.T
        rows, picked = np.arange(len(pairs)), []
        many = 1 if attract else min(step.farthest, len(candidates) - 2)
        for own, other in ((left, right), (right, left)):
            own_sims = sims[own]
            own_sims[rows, own] = own_sims[rows, other] = -np.inf if attract else np.inf
            far = np.argpartition(own_sims, many - 1)[:, :many] if not attract else None
            picked.append(own_sims.argmax(axis=1)[:, None] if attract else far)
        tl, tr = candidates[picked[0]].mean(axis=1), candidates[picked[1]].mean(axis=1)
        xl, xr = xw[left], xw[right]
        same = np.einsum("ij,ij->i", xl, xr)
        sign, margin = (1.0, p.attract_margin) if attract else (-1.0, p.repel_margin)
        on_l = (margin + sign * (np.einsum("ij,ij->i", xl, tl) - same) > 0)[:, None]
        on_r = (margin + sign * (np.einsum("ij,ij->i", xr, tr) - same) > 0)[:, None]
        if not attract and step.ceiling is not None:
            on_l, on_r = on_l & (same > step.ceiling)[:, None], on_r & (same > step.ceiling)[:, None]
        if not attract and step.apart_only:
            to = np.concatenate([left, right, left, right])
            terms = np.concatenate([-(on_r * xr), -(on_l * xl), -(on_l * xr), -(on_r * xl)])
        else:
            to = np.concatenate([left, right, picked[0].ravel(), picked[1].ravel()])
            shares = [np.repeat(on * x / many, many, axis=0) for on, x in ((on_l, xl), (on_r, xr))]
            terms = np.concatenate([on_l * (tl - xr) - on_r * xr, on_r * (tr - xl) - on_l * xl, *shares])
        scatter = np.zeros((len(words), len(to)))
        moving = to < len(words)
        scatter[to[moving], np.flatnonzero(moving)] = sign
        grad = scatter @ terms + 2 * p.regularization * weight[words, None] * (xw - anchor[words])
        sums[words] += grad**2
        x[words] = unit_rows(xw - p.learning_rate * grad / (np.sqrt(sums[words]) + 1e-10), np.float64)

    return run


class Setting(NamedTuple):
    """One set of vectors and the relations rows' constraints on them."""

    kv: KeyedVectors
    words: list[str]
    attract: np.ndarray
    repel: np.ndarray
    direct: list[tuple[str, str]]
    others: list[str]
    before: dict


def setting(path: str) -> Setting:
    """The relations rows of specialize_bench on the vectors at ``path``: synonyms and similar-to pairs attracted,
    indirect antonyms repelled, the benchmark pairs removed."""
    kv = load_vectors(path)
    synonyms, opposite, _, similar, indirect = wordnet_pairs(kv.key_to_index)
    held = benchmark_pairs()
    attract, repel = sorted((synonyms | similar) - indirect - held), sorted(indirect - held)
    words = sorted({w for p in attract + repel for w in p})
    index = {w: i for i, w in enumerate(words)}
    rows = [np.array([[index[a], index[b]] for a, b in pairs]) for pairs in (attract, repel)]
    others = [w for w in kv.index_to_key if w not in index]  # most frequent first
    before = benchmarks(kv, with_analogies=False)
    print(
        f"{path}: {len(attract):,} attract and {len(repel):,} repel pairs; before: SimLex-999 "
        f"{before['simlex999']:.3f}, WS-353 {before['ws353']:.3f}"
    )
    return Setting(kv, words, rows[0], rows[1], sorted(opposite & set(repel)), others, before)


def scores(step: Step, s: Setting, seed: int) -> tuple[float, float, float]:
    """SimLex-999, WS-353's change and the direct antonyms' mean cosine after ``step`` at ``seed``."""
    draw = np.random.default_rng(1).choice(step.frequent or len(s.others), step.negatives, replace=False)
    negatives = np.stack([s.kv[s.others[i]] for i in draw])
    attracted = np.zeros(len(s.words), bool)
    attracted[s.attract.ravel()] = True
    product_step, core._batch_step = core._batch_step, batch_step(step, np.where(attracted, 1.0, step.lone))
    try:
        params = dataclasses.replace(core.SpecializeParams(), regularization=step.pull)
        trained = np.stack([s.kv[w] for w in s.words])
        moved = core.specialize_matrix(trained, s.attract, s.repel, negatives, params, seed)
    finally:
        core._batch_step = product_step
    vocab = s.kv.key_to_index
    out = KeyedVectors(vector_size=s.kv.vector_size)
    out.add_vectors(s.kv.index_to_key, s.kv.vectors.copy())
    out.vectors[[vocab[w] for w in s.words]] = moved
    out.fill_norms(force=True)
    unit = out.get_normed_vectors()
    after = benchmarks(out, with_analogies=False)  # not printed here, and most of the time
    cosine = float(np.mean([unit[vocab[a]] @ unit[vocab[b]] for a, b in s.direct]))
    return after["simlex999"], after["ws353"] - s.before["ws353"], cosine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--vectors", required=True, nargs="+", help="KeyedVectors files (.kv), or runs' OUTPUT/baseline_vectors"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", help="the rows whose name holds one of these texts")
    args = parser.parse_args()
    settings = [setting(path) for path in args.vectors]
    print(f"\nover {len(settings)} sets of vectors x {len(args.seeds)} seeds:\n")
    columns = ["SimLex-999: mean (lowest)", "WS-353's change: mean (worst)", "direct antonyms' mean cosine"]
    print("| repel step | pull | " + " | ".join(columns) + " |\n|---|---|---|---|---|")
    for step in (s for s in STEPS if not args.only or any(text in s.name for text in args.only)):
        got = np.array([scores(step, s, seed) for s in settings for seed in args.seeds])
        simlex, change, cosine = got.T
        print(
            f"| {step.name} | {step.pull} | {simlex.mean():.3f} ({simlex.min():.3f}) | {change.mean():+.3f} "
            f"({change.min():+.3f}) | {cosine.mean():+.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
