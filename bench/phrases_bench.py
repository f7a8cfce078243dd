"""Detected phrases against gensim's ``Phrases``: the same phrases, and the time each takes, on the same tokens.

The corpus is tokenised once by swapvec's tokeniser (``tokenize.token_rows``, in Spark), persisted in Spark, and
collected as Python lists for gensim, so both see the same sentences. Then, with the same settings (``min_count``,
``threshold``, ``scoring``, "_" as joiner), two passes each:

* gensim, one process: ``Phrases(sentences)`` learns pass 1; each sentence goes through the frozen model
  (``model[sentence]``); ``Phrases`` learns pass 2 on the result. That is what gensim's documentation does for phrases
  of up to four words.
* swapvec: ``collocations.detect`` (``tokenize.phrase_passes`` 2): the counting, scoring and pass-1 joining in Spark.

"same set" is the Jaccard index of each pass's phrases against gensim's: every pair of adjacent tokens that gensim's
model scores above the threshold (its ``score_candidate``). gensim's own ``export_phrases`` is that set for pass 1,
but from pass 2 on it splits a key at every joiner and scores ``he_did`` + ``not`` as ``he`` + ``not``.
The last columns time the joining itself over the whole corpus (gensim: both frozen models on every sentence;
swapvec: the rows with both passes' phrases, materialised by Spark's ``noop`` writer).

    python bench/phrases_bench.py /work/data/gcide.txt /work/data/gcide_x4.txt
"""

from __future__ import annotations

import argparse
import time

from gensim.models.phrases import Phrases

from swapvec.collocations import detect
from swapvec.config import InputConfig, SparkConfig, TokenizeConfig
from swapvec.session import get_spark
from swapvec.store import read_corpus
from swapvec.tokenize import token_rows


def gensim_phrases(model: Phrases, sentences: list[list[str]]) -> dict[str, float]:
    """Every candidate gensim's model scores as a phrase, with its score: two words that are not connectors, with
    only connectors between them (none without connector words). (``export_phrases`` splits a key at every joiner,
    so from the second pass on it scores ``he_did`` + ``not`` as ``he`` + ``not``.)"""
    found = {}
    for tokens in sentences:
        start, between = None, []
        for word in tokens:
            if word in model.connector_words:
                between += [word] * (start is not None)
                continue
            if start is not None:
                phrase, score = model.score_candidate(start, word, between)
                if phrase is not None:
                    found[phrase] = score
            start, between = word, []
    return found


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="+")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--scoring", default="default", choices=("default", "npmi"))
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--connectors", default=None, choices=("english",), help="gensim's ENGLISH_CONNECTOR_WORDS")
    args = parser.parse_args()
    cfg = TokenizeConfig(
        phrases=True, phrase_passes=2, phrase_min_count=args.min_count, phrase_scoring=args.scoring,
        phrase_threshold=args.threshold, phrase_connectors=args.connectors or [],
    )  # fmt: skip
    settings = {
        "min_count": cfg.phrase_min_count, "threshold": cfg.threshold, "scoring": cfg.phrase_scoring,
        "connector_words": cfg.connectors,
    }  # fmt: skip
    spark = get_spark(SparkConfig(master="local[2]", conf={"spark.driver.memory": "12g", "spark.ui.enabled": "false"}))
    print(
        "| corpus | words | pass 1 phrases (ours / gensim) | pass 2 | Jaccard p1 / p2 | gensim s | swapvec s | "
        "ratio | join: gensim s | swapvec s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in args.corpora:
        rows = token_rows(read_corpus(spark, InputConfig(path=path)), cfg).persist()
        sentences = [r.tokens for r in rows.orderBy("sentence_id").collect()]
        words = sum(map(len, sentences))

        started = time.monotonic()
        first = Phrases(sentences, **settings)
        joined = [first[s] for s in sentences]
        second = Phrases(joined, **settings)
        gensim_seconds = time.monotonic() - started
        theirs = [set(gensim_phrases(first, sentences)), set(gensim_phrases(second, joined))]

        started = time.monotonic()
        detected = detect(rows, cfg, set())
        ours_seconds = time.monotonic() - started
        ours = [{p.phrase for p in detected.phrases if p.pass_number == n} for n in (1, 2)]

        started = time.monotonic()
        for s in sentences:
            second[first[s]]
        gensim_join = time.monotonic() - started
        started = time.monotonic()
        detected.rows.write.format("noop").mode("overwrite").save()
        ours_join = time.monotonic() - started
        rows.unpersist()
        print(
            f"| {path.rsplit('/', 1)[-1]} | {words:,} | {len(ours[0]):,} / {len(theirs[0]):,} | "
            f"{len(ours[1]):,} / {len(theirs[1]):,} | {jaccard(ours[0], theirs[0]):.4f} / "
            f"{jaccard(ours[1], theirs[1]):.4f} | {gensim_seconds:.1f} | {ours_seconds:.1f} | "
            f"{ours_seconds / gensim_seconds:.2f}x | {gensim_join:.1f} | {ours_join:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
