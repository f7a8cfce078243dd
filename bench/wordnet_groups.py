"""Draw held-out groups from WordNet for a corpus: a groups file for swapvec.

Plain groups are WordNet synsets (from Debian's ``wordnet-base``: ``apt-get install wordnet-base``) whose
single-word, lower-case lemmas occur at least ``--min-count`` times in the corpus, 2 to 4 words each. With
``--hubs N`` the file also gets N hub groups: a noun synset's first lemma as the hub and the first lemmas of 2 to 4
of its hyponyms as members (``animal: dog cat horse``). With ``--phrases N`` it also gets N groups of synsets with
at least one multi-word lemma that occurs ``--min-count`` times in the corpus, written in double quotes
(``"motion picture" movie film``). No word is in two groups; a seed draws them, so the same command gives the same
groups.

    python bench/wordnet_groups.py /work/data/gcide.txt bench/groups-gcide.txt --groups 60 --hubs 30 --seed 7
    python bench/wordnet_groups.py /work/data/gcide.txt bench/groups-gcide-phrases.txt --groups 0 --phrases 60
"""

from __future__ import annotations

import argparse
import collections
import random
import re
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
WORD = re.compile(r"[a-z]+")
#: A WordNet lemma of 2 to 4 words (WordNet joins them with "_").
PHRASE = re.compile(r"[a-z]+(?:_[a-z]+){1,3}")


def _records(wordnet: Path, part: str):
    """Yield ``(offset, lemmas, hyponym offsets)`` of each synset of one part of speech."""
    for line in (wordnet / f"data.{part}").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):  # licence header
            continue
        fields = line.split(" ")
        count = int(fields[3], 16)
        lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
        at = 4 + 2 * count
        pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(int(fields[at]))]
        hyponyms = [offset for symbol, offset, pos, _ in pointers if symbol == "~" and pos == "n"]
        yield fields[0], list(dict.fromkeys(lemmas)), hyponyms


def synsets(wordnet: Path = WORDNET, phrases: bool = False):
    """Yield each synset's lemmas (lower-case single words; with ``phrases`` also 2 to 4 words joined by "_") from
    WordNet's data files."""
    for part in ("noun", "verb", "adj", "adv"):
        for _, lemmas, _ in _records(wordnet, part):
            yield [w for w in lemmas if WORD.fullmatch(w) or (phrases and PHRASE.fullmatch(w))]


def hubs(counts: collections.Counter[str], min_count: int, wordnet: Path = WORDNET):
    """Yield ``[hub, member, ...]``: a noun synset's first lemma and its hyponyms' first lemmas, 2 to 4 of them, every
    word at least ``min_count`` times in the corpus."""
    nouns = {
        offset: ([w for w in lemmas if WORD.fullmatch(w)], hyponyms)
        for offset, lemmas, hyponyms in _records(wordnet, "noun")
    }
    for lemmas, hyponyms in nouns.values():
        if not lemmas or counts[lemmas[0]] < min_count:
            continue
        members = [nouns[h][0][0] for h in hyponyms if nouns[h][0] and counts[nouns[h][0][0]] >= min_count]
        members = [m for m in dict.fromkeys(members) if m != lemmas[0]]
        if 2 <= len(members) <= 4:
            yield [lemmas[0], *members]


def _draw(candidates: list[list[str]], n: int, seed: int, used: set[str]) -> list[list[str]]:
    """Up to ``n`` of the candidates, shuffled by ``seed``, none sharing a word with another or with ``used``
    (which gains their words)."""
    random.Random(seed).shuffle(candidates)
    chosen = []
    for words in candidates:
        if len(chosen) == n:
            break
        if used.isdisjoint(words):
            chosen.append(words)
            used.update(words)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--groups", type=int, default=60)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--hubs", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phrases", type=int, default=0, help="groups holding a multi-word lemma")
    args = parser.parse_args()
    wanted = {tuple(w.split("_")) for lemmas in synsets(phrases=True) for w in lemmas if "_" in w}
    counts: collections.Counter[str] = collections.Counter()
    with open(args.corpus, encoding="utf-8", errors="replace") as corpus:
        for line in corpus:
            words = WORD.findall(line.lower())
            counts.update(words)
            if args.phrases:
                for n in (2, 3, 4):
                    grams = (tuple(words[i : i + n]) for i in range(len(words) - n + 1))
                    counts.update("_".join(g) for g in grams if g in wanted)
    candidates = []
    for lemmas in synsets():
        words = [w for w in lemmas if counts[w] >= args.min_count]
        if 2 <= len(words) <= 4:
            candidates.append(words)
    used: set[str] = set()
    chosen = _draw(candidates, args.groups, args.seed, used)
    hub_candidates = list(hubs(counts, args.min_count)) if args.hubs else []
    hub_groups = _draw(hub_candidates, args.hubs, args.seed, used)
    phrase_candidates = []
    for lemmas in synsets(phrases=True) if args.phrases else ():
        words = [w for w in lemmas if counts[w] >= args.min_count]
        if 2 <= len(words) <= 4 and any("_" in w for w in words):
            phrase_candidates.append(words)
    phrase_groups = _draw(phrase_candidates, args.phrases, args.seed, used)
    header = (
        f"# {len(chosen)} WordNet synonym groups, {len(hub_groups)} hypernym hubs and {len(phrase_groups)} groups "
        f"with phrases for {Path(args.corpus).name}, seed {args.seed}\n"
    )
    quoted = [[f'"{w.replace("_", " ")}"' if "_" in w else w for w in g] for g in phrase_groups]
    lines = [" ".join(g) for g in chosen + quoted] + [f"{g[0]}: {' '.join(g[1:])}" for g in hub_groups]
    Path(args.out).write_text(header + "".join(line + "\n" for line in lines), encoding="utf-8")
    print(f"{len(chosen)} groups of {sum(map(len, chosen))} words from {len(candidates)} candidate synsets")
    print(f"{len(hub_groups)} hub groups from {len(hub_candidates)} candidates")
    print(f"{len(phrase_groups)} groups with phrases from {len(phrase_candidates)} candidates")


if __name__ == "__main__":
    main()
