"""Research: variants of Attract-Repel's repel step on GCIDE with WordNet's relations (the product keeps the paper's).

The product's repel step (``swapvec.specialize._batch_step``) pushes a repelled pair apart and pulls each word toward
its farthest candidate, which among the vocabulary negatives is mostly a rare word; on GCIDE that drags the words a
repel line names, and the words related to them, away (WS-353 falls). Each row here swaps in another step, on the
constrained words of the relations lexicon (``specialize_bench.py --relations``: synonyms and similar-to pairs
attracted, indirect antonyms repelled, the benchmark pairs removed), without the repel promise, and prints
SimLex-999, WS-353 and WordNet's direct antonyms' mean cosine for each seed (the batches' order):

    .venv/bin/python bench/repel_variants.py --vectors OUTPUT/baseline_vectors --seeds 1 2

The variants: the number of vocabulary negatives; the words that only repel lines name held harder; the pair pushed
apart without the pull toward the farthest candidate, always or while its cosine is above a ceiling. The negatives
are drawn by numpy's generator, not by the product's hash, so the first row differs from a product run a little.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from gensim.models import KeyedVectors
from specialize_bench import benchmark_pairs, table_vectors, wordnet_pairs

import swapvec.specialize as core
from swapvec.evaluate import benchmarks
from swapvec.similarity.kernels import unit_rows


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


STEPS = [
    Step("the paper's, 100 vocabulary negatives (the product)"),
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
        for own, other in ((left, right), (right, left)):
            own_sims = sims[own]
            own_sims[rows, own] = own_sims[rows, other] = -np.inf if attract else np.inf
            picked.append(own_sims.argmax(axis=1) if attract else own_sims.argmin(axis=1))
        tl, tr = candidates[picked[0]], candidates[picked[1]]
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
            to = np.concatenate([left, right, picked[0], picked[1]])
            terms = np.concatenate([on_l * (tl - xr) - on_r * xr, on_r * (tr - xl) - on_l * xl, on_l * xl, on_r * xr])
        scatter = np.zeros((len(words), len(to)))
        moving = to < len(words)
        scatter[to[moving], np.flatnonzero(moving)] = sign
        grad = scatter @ terms + 2 * p.regularization * weight[words, None] * (xw - anchor[words])
        sums[words] += grad**2
        x[words] = unit_rows(xw - p.learning_rate * grad / (np.sqrt(sums[words]) + 1e-10), np.float64)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", required=True, help="KeyedVectors file, or a run's OUTPUT/baseline_vectors")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", help="the rows whose name holds this text")
    args = parser.parse_args()
    kv = table_vectors(args.vectors) if not args.vectors.endswith(".kv") else KeyedVectors.load(args.vectors)
    vocab, held = kv.key_to_index, benchmark_pairs()

    # The relations rows of specialize_bench: synonyms and similar-to pairs attracted, indirect antonyms repelled.
    synonyms, opposite, _, similar, indirect = wordnet_pairs(vocab)
    attract, repel = sorted((synonyms | similar) - indirect - held), sorted(indirect - held)
    words = sorted({w for p in attract + repel for w in p})
    index = {w: i for i, w in enumerate(words)}
    rows_a = np.array([[index[a], index[b]] for a, b in attract])
    rows_r = np.array([[index[a], index[b]] for a, b in repel])
    direct = sorted(opposite & set(repel))
    others = [w for w in kv.index_to_key if w not in index]  # most frequent first
    trained = np.stack([kv[w] for w in words])
    before = benchmarks(kv)
    print(f"{args.vectors}: {len(attract):,} attract and {len(repel):,} repel pairs; {len(direct):,} direct antonyms")
    print(f"before: SimLex-999 {before['simlex999']:.3f}, WS-353 {before['ws353']:.3f}")
    print("| repel step | pull | SimLex-999 | WS-353 | direct antonyms' mean cosine |\n|---|---|---|---|---|")
    attracted = np.zeros(len(words), bool)
    attracted[rows_a.ravel()] = True
    product_step = core._batch_step
    for step in (s for s in STEPS if not args.only or args.only in s.name):
        draw = np.random.default_rng(1).choice(step.frequent or len(others), step.negatives, replace=False)
        negatives = np.stack([kv[others[i]] for i in draw])
        core._batch_step = batch_step(step, np.where(attracted, 1.0, step.lone))
        scores = []
        try:
            for seed in args.seeds:
                params = dataclasses.replace(core.SpecializeParams(), regularization=step.pull)
                moved = core.specialize_matrix(trained, rows_a, rows_r, negatives, params, seed)
                out = KeyedVectors(vector_size=kv.vector_size)
                out.add_vectors(kv.index_to_key, kv.vectors.copy())
                out.vectors[[vocab[w] for w in words]] = moved
                out.fill_norms(force=True)
                unit = out.get_normed_vectors()
                cosine = np.mean([unit[vocab[a]] @ unit[vocab[b]] for a, b in direct])
                scores.append((benchmarks(out), cosine))
        finally:
            core._batch_step = product_step
        cells = [" / ".join(f"{s[k]:.3f}" for s, _ in scores) for k in ("simlex999", "ws353")]
        print(f"| {step.name} | {step.pull} | {cells[0]} | {cells[1]} | {' / '.join(f'{c:.3f}' for _, c in scores)} |")


if __name__ == "__main__":
    main()
