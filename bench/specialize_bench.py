"""Specialisation (Attract-Repel, ``swapvec.specialize``) on a trained corpus with WordNet's synonyms and antonyms.

Trains gensim on the corpus (one process, the product's settings: skip-gram, negative 5, 100 dims, window 5,
min_count 5, 5 epochs, 2 workers, seed 1), or loads vectors saved by an earlier call (``--vectors``). Then builds
the constraints from WordNet (Debian's ``wordnet-base``): every two single-word lemmas of a synset are synonyms
(attract), WordNet's antonym pointers between lemmas are antonyms (repel), both words in the vocabulary; every pair
of SimLex-999 and WS-353 is removed from them (a second row keeps them). It runs the specialisation core on the
constrained words, with the product's defaults, and scores before and after:

    .venv/bin/python bench/specialize_bench.py /work/data/gcide.txt --vectors /tmp/gcide.kv \
        [--variant regularization=1e-3,attract_margin=0.4 ...]

Each ``--variant`` (settings of ``SpecializeParams`` besides the defaults) adds a row with the benchmark pairs
removed. One row a variant: SimLex-999 and WS-353 (Spearman), Google analogies (accuracy), the share of WordNet's
direct antonym pairs inside each other's top 10 and their mean cosine (over the pairs the row repels; all of them
in the row without constraints), SimLex-999 on the pairs whose words are in no constraint (of the row's kind of
constraints with the benchmark pairs removed, so the same pairs in the rows of one kind), and the seconds of
specialising against the training's.

Two rows measure the outside-the-lexicon option (``augment.specialize_outside``: the linear map of
``swapvec.specialize.carry_map`` applied to every unconstrained word): with the benchmark pairs removed, and with
every constraint that names a word of SimLex-999 or WS-353 removed ("benchmark words removed": no benchmark word
moves under Attract-Repel, so the benchmarks measure the map alone), each beside the same constraints without it.

Every row but one then keeps the product's repel promise (``augment.guarantee``: ``swapvec.apart.keep_apart``, the
antonym pairs still inside each other's top 10 turned apart, searched over the whole vocabulary in numpy here); its
name says how many pairs it turned, and one row goes without it.

Two rows expand WordNet's antonyms to their synonyms (:func:`expand_antonyms`: 1,562 direct antonym pairs become
57,101 on GCIDE). Pairs that WordNet lists both as synonyms and antonyms are kept as antonyms only, as the product
refuses a pair that attracts and repels. ``--seed`` sets the specialisation's seed (its batch order).

``--relations`` adds rows with two more of WordNet's relations (:func:`relations`): adjectives similar to each other
(a cluster's head and its satellites) attracted beside the synonyms, and indirect antonyms (an antonym pointer taken
between whole synsets and their satellites) repelled: at the product's pull toward the trained vectors
(``augment.specialize_regularization``), at 0.4 and 0.5 beside it, with the benchmark pairs kept, and outside the
lexicon; then with the expanded antonyms repelled too, at a pull of 0.8.

``--write-lexicon PATH`` writes the constraints with the benchmark pairs removed as a lexicon file (one pair a
line: ``a b`` to attract, ``a != b`` to repel) for ``augment.lexicon_path``: WordNet's synonyms and direct antonyms;
with ``--relations``, the synonyms and similar-to pairs, and the indirect antonyms (the lexicon the product's
default pull was measured with); ``--expand-antonyms`` adds the expanded antonyms to either.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from gensim.models import KeyedVectors, Word2Vec
from gensim.test.utils import datapath
from scipy.stats import spearmanr
from wordnet_groups import WORD, WORDNET, synsets

from swapvec.apart import keep_apart
from swapvec.evaluate import TOP, benchmarks
from swapvec.similarity.nearest import unit_rows
from swapvec.specialize import SpecializeParams, carry_map, specialize_matrix


def _pointers(wordnet: Path = WORDNET):
    """Each synset's key (part of speech, offset), its lemmas (lower case), and its pointers as
    ``(symbol, target key, source lemma index, target lemma index)``; indices are -1 for a pointer between synsets.
    A satellite adjective (``s``) is keyed as an adjective (``a``), as the pointers name it."""
    for part in ("noun", "verb", "adj", "adv"):
        for line in (wordnet / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue
            fields = line.split(" ")
            count = int(fields[3], 16)
            words = [fields[4 + 2 * i].split("(")[0].lower() for i in range(count)]
            at, pointers = 4 + 2 * count, []
            for i in range(int(fields[at])):
                symbol, offset, target_pos, ends = fields[at + 1 + 4 * i : at + 5 + 4 * i]
                target = ("a" if target_pos == "s" else target_pos, offset)
                pointers.append((symbol, target, int(ends[:2], 16) - 1, int(ends[2:], 16) - 1))
            yield ("a" if fields[2] == "s" else fields[2], fields[0]), words, pointers


def _pairs(left, right) -> set[tuple[str, str]]:
    """Every pair of a single word of ``left`` and a different one of ``right``, sorted."""
    words = [w for w in left if WORD.fullmatch(w)], [w for w in right if WORD.fullmatch(w)]
    return {tuple(sorted((a, b))) for a in words[0] for b in words[1] if a != b}


def antonyms(wordnet: Path = WORDNET) -> set[tuple[str, str]]:
    """WordNet's lexical antonym pointers (``!``) between single-word lemmas, as sorted pairs."""
    lemmas, pointers = {}, []
    for key, words, links in _pointers(wordnet):
        lemmas[key] = words
        pointers += [(words[source], target, index) for symbol, target, source, index in links if symbol == "!"]
    pairs = set()
    for word, target, index in pointers:
        pairs |= _pairs([word], [lemmas[target][index]])
    return pairs


def relations(wordnet: Path = WORDNET) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Two more of WordNet's relations, as sorted pairs of single words:

    * **similar to** (``&``): an adjective cluster's head and its satellites (``hot`` and ``torrid``), attracted;
    * **indirect antonyms**: an antonym pointer taken between whole synsets, each with the satellites similar to it
      (``hot != cold`` gives ``torrid != frigid``), repelled. This is how WordNet itself reads antonymy among
      adjectives (Gross and Miller 1990): a satellite's antonym is its head's.
    """
    lemmas, similar, opposite = {}, {}, []
    for key, words, links in _pointers(wordnet):
        lemmas[key] = words
        for symbol, target, _, _ in links:
            if symbol == "&":
                similar.setdefault(key, set()).add(target)
            elif symbol == "!":
                opposite.append((key, target))
    close = set().union(*(_pairs(lemmas[a], lemmas[b]) for a, targets in similar.items() for b in targets))
    keys = {key for pair in opposite for key in pair}
    around = {key: set(lemmas[key]).union(*(lemmas[s] for s in similar.get(key, ()))) for key in keys}
    far = set().union(*(_pairs(around[a], around[b]) for a, b in opposite))
    return close, far


def expand_antonyms(opposite: set[tuple[str, str]], synonyms: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The antonym pairs with each word's synonyms standing in for it (``hot != cold`` gives ``warm != cold``,
    ``hot != chilly``, ...), as sorted pairs, the synonym pairs left out (Mrksic et al. 2017 draw antonyms from
    several sources; WordNet's direct pointers are few)."""
    near: dict[str, set[str]] = {}
    for a, b in synonyms:
        near.setdefault(a, set()).add(b)
        near.setdefault(b, set()).add(a)
    out = set()
    for a, b in opposite:
        for x in near.get(a, set()) | {a}:
            out.update(tuple(sorted((x, y))) for y in near.get(b, set()) | {b} if x != y)
    return out - synonyms


class WordNetPairs(NamedTuple):
    """WordNet's pairs whose two words are in a vocabulary, each sorted (:func:`wordnet_pairs`)."""

    synonyms: set[tuple[str, str]]
    opposite: set[tuple[str, str]]
    expanded: set[tuple[str, str]]
    similar: set[tuple[str, str]]
    indirect: set[tuple[str, str]]


def wordnet_pairs(vocab) -> WordNetPairs:
    """The synonyms (two single-word lemmas of a synset), the direct antonyms, the antonyms expanded to their
    synonyms (:func:`expand_antonyms`), the similar-to pairs and the indirect antonyms (:func:`relations`), both
    words in ``vocab``. A pair WordNet lists as synonyms and direct antonyms (king, queen) is an antonym only, as the
    product refuses a pair that attracts and repels; one it lists as synonyms and indirect antonyms is a synonym."""

    def known(pair: tuple[str, str]) -> bool:
        return pair[0] in vocab and pair[1] in vocab

    opposite = {p for p in antonyms() if known(p)}
    pairs = {tuple(sorted((a, b))) for lemmas in synsets() for i, a in enumerate(lemmas) for b in lemmas[i + 1 :]}
    synonyms = {p for p in pairs if known(p) and p[0] != p[1]} - opposite
    close, far = relations()
    indirect = {p for p in far if known(p)} - synonyms
    similar = {p for p in close if known(p)} - synonyms
    return WordNetPairs(synonyms, opposite, expand_antonyms(opposite, synonyms), similar, indirect)


def benchmark_pairs() -> set[tuple[str, str]]:
    """The word pairs of SimLex-999 and WS-353, sorted, lower-case."""
    pairs = set()
    for file in ("simlex999.txt", "wordsim353.tsv"):
        for line in Path(datapath(file)).read_text(encoding="utf-8").splitlines():
            fields = line.lower().split("\t")
            if len(fields) >= 3 and not line.startswith("#"):
                pairs.add(tuple(sorted(fields[:2])))
    return pairs


def simlex_outside(kv: KeyedVectors, constrained: set[str]) -> float:
    """SimLex-999's Spearman over its pairs whose two words are both in the vocabulary and in no constraint."""
    gold, got = [], []
    for line in Path(datapath("simlex999.txt")).read_text(encoding="utf-8").splitlines()[1:]:
        a, b, score = line.lower().split("\t")[:3]
        if a in kv.key_to_index and b in kv.key_to_index and a not in constrained and b not in constrained:
            gold.append(float(score))
            got.append(kv.similarity(a, b))
    return float(spearmanr(gold, got).statistic) if len(gold) > 2 else float("nan")


def antonym_scores(kv: KeyedVectors, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """The share of pairs of which one word is in the other's top 10, and the pairs' mean cosine."""
    normed = kv.get_normed_vectors()
    inside, cosines = 0, []
    for a, b in pairs:
        ia, ib = kv.key_to_index[a], kv.key_to_index[b]
        cos = float(normed[ia] @ normed[ib])
        rank_ab = int(np.count_nonzero(normed @ normed[ia] > cos)) - 1  # minus the word itself
        rank_ba = int(np.count_nonzero(normed @ normed[ib] > cos)) - 1
        inside += min(rank_ab, rank_ba) + 1 <= TOP
        cosines.append(cos)
    return inside / len(pairs), float(np.mean(cosines))


def vocabulary_search(kv: KeyedVectors):
    """The product's repel-promise search (``swapvec.apart.Search``) over a whole KeyedVectors, in numpy."""

    def search(queries: np.ndarray, n: int) -> list[list[tuple[str, float]]]:
        normed = unit_rows(kv.vectors)
        found = []
        for start in range(0, len(queries), 2048):
            scores = unit_rows(queries[start : start + 2048]) @ normed.T
            for row in scores:
                top = np.argpartition(-row, n)[:n]
                found.append(sorted(((kv.index_to_key[i], float(row[i])) for i in top), key=lambda h: -h[1]))
        return found

    return search


def table_vectors(path: str) -> KeyedVectors:
    """A swapvec vectors table (``OUTPUT/baseline_vectors``: a run's vectors before specialisation), Delta or
    Parquet, as KeyedVectors, most frequent first, read with local Spark."""
    from swapvec.config import load_config
    from swapvec.evaluate import collect_vectors
    from swapvec.session import get_spark
    from swapvec.store import Store

    output, table = os.path.split(os.path.abspath(path))
    fmt = "delta" if os.path.isdir(os.path.join(path, "_delta_log")) else "parquet"
    cfg = load_config(None, [f"output.path={output}", f"output.format={fmt}"])
    return collect_vectors(Store(cfg.output, get_spark(cfg.spark)).read(table), 10**7, [])


def load_vectors(path: str) -> KeyedVectors:
    """A run's vectors table (a folder: :func:`table_vectors`) or a KeyedVectors file."""
    return table_vectors(path) if os.path.isdir(path) else KeyedVectors.load(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus")
    parser.add_argument(
        "--vectors",
        help="KeyedVectors file: loaded when it exists, else trained and saved there; or a run's "
        "OUTPUT/baseline_vectors table (a folder)",
    )
    parser.add_argument("--variant", action="append", default=[], help="name=value,... of SpecializeParams")
    parser.add_argument("--write-lexicon", help="write the constraints (benchmark pairs removed) as a lexicon here")
    parser.add_argument("--expand-antonyms", action="store_true", help="the lexicon written with expanded antonyms")
    parser.add_argument("--seed", type=int, default=1, help="the specialisation's seed (batch order)")
    parser.add_argument("--relations", action="store_true", help="rows with WordNet's similar-to and indirect antonyms")
    args = parser.parse_args()
    train_s = float("nan")
    if args.vectors and os.path.exists(args.vectors):
        kv = load_vectors(args.vectors)
    else:
        with open(args.corpus, encoding="utf-8", errors="replace") as corpus:
            sentences = [WORD.findall(line.lower()) for line in corpus]
        started = time.monotonic()
        model = Word2Vec(
            sentences, sg=1, negative=5, vector_size=100, window=5, min_count=5, epochs=5, workers=2, seed=1
        )
        train_s = time.monotonic() - started
        kv = model.wv
        if args.vectors:
            kv.save(args.vectors)
    synonyms, opposite, expanded, similar, indirect = wordnet_pairs(kv.key_to_index)
    both_antonyms = indirect | expanded
    held_out = benchmark_pairs()
    print(f"corpus {args.corpus}: {len(kv):,} words; training {train_s:.0f} s (nan: vectors loaded)")
    print(
        f"WordNet in the vocabulary: {len(synonyms):,} synonym pairs, {len(opposite):,} antonym pairs "
        f"({len(expanded):,} expanded to their synonyms); similar to: {len(similar):,} more pairs, indirect "
        f"antonyms: {len(indirect):,} pairs"
    )
    print("| constraints | synonym pairs | antonym pairs | SimLex-999 | WS-353 | analogies | antonyms in top 10 "
          "| antonym mean cosine | SimLex-999 outside | specialise s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")

    def row(name: str, kv_out: KeyedVectors, attract, repel, constrained, seconds: float, kept=lambda p: True) -> None:
        scores = benchmarks(kv_out)
        analogy, sections = kv_out.evaluate_word_analogies(datapath("questions-words.txt"), restrict_vocab=len(kv_out))
        scores["analogy"] = analogy  # over the questions in the vocabulary (43% of them on GCIDE): not the 50% rule
        share, cosine = antonym_scores(kv_out, sorted(p for p in opposite if kept(p)))
        print(
            f"| {name} | {len(attract):,} | {len(repel):,} | {scores['simlex999']:.3f} | {scores['ws353']:.3f} "
            f"| {scores['analogy']:.3f} | {share:.3f} | {cosine:.3f} | {simlex_outside(kv_out, constrained):.3f} "
            f"| {seconds:.1f} |"
        )

    # The row without constraints: SimLex-999 outside WordNet's synonyms and direct antonyms (the first rows' kind).
    constrained_removed = {w for p in (synonyms | opposite) - held_out for w in p}
    row("none", kv, [], [], constrained_removed, 0.0)
    near, repelled = synonyms, opposite
    if args.relations:
        near, repelled = synonyms | similar, indirect
    if args.expand_antonyms:
        repelled = repelled | expanded
    near = near - repelled
    if args.write_lexicon:
        lines = [f"{a} {b}" for a, b in sorted(near - held_out)]
        lines += [f"{a} != {b}" for a, b in sorted(repelled - held_out)]
        Path(args.write_lexicon).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {len(lines):,} lines to {args.write_lexicon}")
    benchmark_words = {w for p in held_out for w in p}
    removed = ("benchmark pairs removed", lambda p: p not in held_out)
    disjoint = ("benchmark words removed", lambda p: not set(p) & benchmark_words)

    def variant(name, kept, near_pairs, repelled, settings=None, outside=False, apart=True) -> tuple:
        return name, kept, settings or {}, outside, near_pairs, repelled, apart

    kept_all = ("benchmark pairs kept", lambda p: True)
    variants = [
        variant(f"WordNet, {removed[0]}", removed[1], synonyms, opposite),
        variant(f"WordNet, {removed[0]}, without the repel promise", removed[1], synonyms, opposite, apart=False),
        variant(f"WordNet, {kept_all[0]}", kept_all[1], synonyms, opposite),
        variant(f"WordNet, {removed[0]}, outside the lexicon", removed[1], synonyms, opposite, outside=True),
        variant(f"WordNet, {disjoint[0]}", disjoint[1], synonyms, opposite),
        variant(f"WordNet, {disjoint[0]}, outside the lexicon", disjoint[1], synonyms, opposite, outside=True),
        variant(f"WordNet, antonyms expanded, {removed[0]}", removed[1], synonyms, expanded),
        variant(f"WordNet, antonyms expanded, {kept_all[0]}", kept_all[1], synonyms, expanded),
    ]
    if args.relations:
        near, far = synonyms | similar, both_antonyms
        rel, both = "relations: similar to, indirect antonyms", "relations, antonyms also expanded"
        pull = SpecializeParams().regularization
        variants += [
            variant(f"{rel}, {removed[0]}", removed[1], near - indirect, indirect),
            *(
                variant(
                    f"{rel}, {removed[0]}, regularization {r}",
                    removed[1],
                    near - indirect,
                    indirect,
                    {"regularization": r},
                )
                for r in (0.4, 0.5)
                if r != pull
            ),
            variant(f"{rel}, {kept_all[0]}", kept_all[1], near - indirect, indirect),
            variant(f"{rel}, {removed[0]}, outside", removed[1], near - indirect, indirect, outside=True),
            variant(f"{rel}, {disjoint[0]}", disjoint[1], near - indirect, indirect),
            variant(f"{rel}, {disjoint[0]}, outside", disjoint[1], near - indirect, indirect, outside=True),
            variant(f"{both}, {removed[0]}, regularization 0.8", removed[1], near - far, far, {"regularization": 0.8}),
        ]
    for text in args.variant:
        settings = {k: type(getattr(SpecializeParams(), k))(v) for k, v in (kv_.split("=") for kv_ in text.split(","))}
        variants.append(variant(f"removed, {text}", removed[1], synonyms, opposite, settings))
        variants.append(variant(f"expanded, removed, {text}", removed[1], synonyms, expanded, settings))
    for name, kept, settings, outside, near_pairs, repelled, apart in variants:
        attract = sorted(p for p in near_pairs if kept(p))
        repel = sorted(p for p in repelled if kept(p))
        words = sorted({w for p in attract + repel for w in p})
        index = {w: i for i, w in enumerate(words)}
        others = [w for w in kv.index_to_key if w not in index]
        negatives = np.random.default_rng(1).choice(len(others), size=SpecializeParams().negatives, replace=False)
        started = time.monotonic()
        trained = np.stack([kv[w] for w in words])
        moved = specialize_matrix(
            trained,
            np.array([[index[a], index[b]] for a, b in attract]).reshape(-1, 2),
            np.array([[index[a], index[b]] for a, b in repel]).reshape(-1, 2),
            np.stack([kv[others[i]] for i in negatives]),
            dataclasses.replace(SpecializeParams(), **settings),
            args.seed,
        )
        out = KeyedVectors(vector_size=kv.vector_size)
        out.add_vectors(kv.index_to_key, kv.vectors.copy())
        if outside:  # what the product's tasks do: each vector's direction mapped, its length kept
            rows = [kv.key_to_index[w] for w in others]
            lengths = np.linalg.norm(kv.vectors[rows], axis=1, keepdims=True)
            out.vectors[rows] = unit_rows(unit_rows(kv.vectors[rows]) @ carry_map(trained, moved)) * lengths
        placed = [kv.key_to_index[w] for w in words]
        out.vectors[placed] = moved
        if apart:  # the product's repel promise (augment.guarantee), searching the vocabulary in numpy
            repel_rows = np.array([[index[a], index[b]] for a, b in repel]).reshape(-1, 2)
            out.vectors[placed], turned = keep_apart(vocabulary_search(out), words, moved, repel_rows, args.seed)
            name += f" ({turned['apart_pairs_turned']:.0f} pairs turned apart)"
        seconds = time.monotonic() - started
        out.fill_norms(force=True)
        # The words of the row's constraints less the benchmark pairs: the same in the rows of one family.
        family = {w for p in (set(near_pairs) | set(repelled)) - held_out for w in p}
        row(name, out, attract, repel, family, seconds, kept)


if __name__ == "__main__":
    main()
