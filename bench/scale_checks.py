"""Scale checks that are too slow for the test suite: one very long line, and a vocabulary the driver cannot hold.

    python bench/scale_checks.py long-line --mb 20       # the suite checks 25,003 tokens; this, millions
    python bench/scale_checks.py vocabulary --words 60000 --vector-size 4096

``long-line`` writes one line of ``--mb`` megabytes, tokenises it with swapvec's tokeniser on local Spark, checks
that every token arrives in order in chunks of ``tokenize.max_sentence_length``, and prints the time against
Python's own ``re.findall`` of the same line on one core (the alternative a user might reach for). ``vocabulary``
runs ``swapvec train`` on ``--words`` distinct words and prints how long the refusal took and its message.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path


def long_line(mb: int) -> None:
    from pyspark.sql import functions as F

    from swapvec.config import SparkConfig, TokenizeConfig
    from swapvec.session import get_spark
    from swapvec.tokenize import tokenize

    folder = Path(tempfile.mkdtemp(prefix="swapvec-long-line-"))
    line, n = [], 0
    while n < mb * 1_000_000:
        word = f"w{len(line) % 997}"
        line.append(word)
        n += len(word) + 1
    file = folder / "line.txt"
    file.write_text(" ".join(line) + "\n")
    started = time.monotonic()
    python_tokens = len(re.findall(r"\w+", file.read_text()))
    python_s = time.monotonic() - started

    spark = get_spark(SparkConfig(conf={"spark.driver.memory": "4g"}))
    started = time.monotonic()
    df = spark.read.text(str(file)).withColumnRenamed("value", "text")
    cfg = TokenizeConfig()
    chunks = tokenize(df, cfg)
    row = chunks.agg(F.count(F.lit(1)).alias("chunks"), F.sum(F.size("tokens")).alias("tokens")).first()
    swapvec_s = time.monotonic() - started
    expected_chunks = -(-len(line) // cfg.max_sentence_length)
    ok = row.tokens == len(line) == python_tokens and row.chunks == expected_chunks
    print("| line | tokens | chunks | swapvec tokenize s | python re.findall s | ratio | all tokens kept |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {file.stat().st_size / 1e6:.0f} MB | {row.tokens:,} | {row.chunks:,} | {swapvec_s:.1f} | {python_s:.1f} "
        f"| {swapvec_s / python_s:.1f}x | {'yes' if ok else 'NO'} |"
    )


def vocabulary(words: int, vector_size: int) -> None:
    import subprocess
    import sys

    folder = Path(tempfile.mkdtemp(prefix="swapvec-vocab-"))
    names = [f"w{i}" for i in range(words)]
    (folder / "big.txt").write_text("\n".join(" ".join(names[i : i + 100]) for i in range(0, words, 100)) + "\n")
    swapvec = Path(sys.executable).parent / "swapvec"
    print("| backend | words | vector_size | exit | seconds to refusal | message |")
    print("|---|---|---|---|---|---|")
    for backend in ("gensim", "mllib"):
        started = time.monotonic()
        proc = subprocess.run(
            [str(swapvec), "run", "--set", f"input.path={folder / 'big.txt'}", "--set", f"output.path={folder / 'out'}"]
            + ["--set", f"train.vector_size={vector_size}", "--set", f"train.backend={backend}"]
            + ["--set", "train.min_count=1", "--set", "augment.groups_path=null"],
            capture_output=True,
            text=True,
        )
        message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        print(
            f"| {backend} | {words:,} | {vector_size} | {proc.returncode} | {time.monotonic() - started:.0f} | "
            f"{re.sub(r'[|]', '/', message)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="check", required=True)
    line = sub.add_parser("long-line")
    line.add_argument("--mb", type=int, default=20)
    vocab = sub.add_parser("vocabulary")
    vocab.add_argument("--words", type=int, default=60_000)
    vocab.add_argument("--vector-size", type=int, default=4096)
    args = parser.parse_args()
    if args.check == "long-line":
        long_line(args.mb)
    else:
        vocabulary(args.words, args.vector_size)


if __name__ == "__main__":
    main()
