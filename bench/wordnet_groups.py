"""Draw held-out synonym groups from WordNet for a corpus: a groups file for swapvec.

Groups are WordNet synsets (from Debian's ``wordnet-base``: ``apt-get install wordnet-base``) whose single-word,
lower-case lemmas occur at least ``--min-count`` times in the corpus, 2 to 4 words each, no word in two groups,
drawn with a seed so that the same command gives the same groups.

    python bench/wordnet_groups.py /work/data/gcide.txt bench/groups-gcide.txt --groups 60 --seed 7
"""

from __future__ import annotations

import argparse
import collections
import random
import re
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
WORD = re.compile(r"[a-z]+")


def synsets(wordnet: Path = WORDNET):
    """Yield each synset's lemmas (lower-case, single words) from WordNet's data files."""
    for part in ("noun", "verb", "adj", "adv"):
        for line in (wordnet / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" ")
            count = int(fields[3], 16)
            lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
            yield [w for w in dict.fromkeys(lemmas) if WORD.fullmatch(w)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--groups", type=int, default=60)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    counts: collections.Counter[str] = collections.Counter()
    with open(args.corpus, encoding="utf-8", errors="replace") as corpus:
        for line in corpus:
            counts.update(WORD.findall(line.lower()))
    candidates = []
    for lemmas in synsets():
        words = [w for w in lemmas if counts[w] >= args.min_count]
        if 2 <= len(words) <= 4:
            candidates.append(words)
    random.Random(args.seed).shuffle(candidates)
    used: set[str] = set()
    chosen = []
    for words in candidates:
        if used.isdisjoint(words):
            chosen.append(words)
            used.update(words)
        if len(chosen) == args.groups:
            break
    header = f"# {len(chosen)} WordNet synonym groups for {Path(args.corpus).name}, seed {args.seed}\n"
    Path(args.out).write_text(header + "".join(" ".join(g) + "\n" for g in chosen), encoding="utf-8")
    print(f"{len(chosen)} groups of {sum(map(len, chosen))} words from {len(candidates)} candidate synsets")


if __name__ == "__main__":
    main()
