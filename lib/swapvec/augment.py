"""Word groups and swap-augmentation.

A groups file has one group a line; ``#`` starts a comment.

* ``a b c`` is a plain group: every member is swapped with every other.
* ``hub: a b c`` is a hub group: every sentence holding the hub gets a copy with the hub replaced by each member,
  so each member inherits the hub's contexts and the hub becomes every member's nearest word. Members are not
  swapped with each other, nor copied into the hub: measured on the seed's example, swapping both ways makes the
  hub a centroid of its members and the members' nearest words each other (rank 1 for the hub on 0 of 10 seeds,
  against 10 of 10 this way, with gensim's negative sampling and with hierarchical softmax alike).

A word may belong to one group only: a word in two groups is refused with both line numbers (merging them silently
would join groups the user kept apart; write one line if they belong together).

Augmentation keeps every original sentence (``copy`` 0) and adds, for each sentence holding group words, copies
in which one group word is replaced by one of its substitutes everywhere in the sentence (``copy`` 1, 2, ...).
When a sentence has more candidate swaps than ``max_copies_per_sentence``, a seeded hash chooses which, so the
choice is the same on every run and every retry, and different sentences keep different swaps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.config import AugmentConfig, TokenizeConfig
from swapvec.errors import BadInput
from swapvec.log import event, get_logger
from swapvec.stats import Stats
from swapvec.tokenize import python_tokens, tokenize_words

_log = get_logger("augment")


@dataclass(frozen=True)
class Group:
    """One line of a groups file, its words already tokenised. ``hub`` is None for a plain group."""

    members: tuple[str, ...]
    hub: str | None = None
    line: int = 0

    @property
    def words(self) -> tuple[str, ...]:
        return ((self.hub,) if self.hub else ()) + self.members

    def mates(self, word: str) -> tuple[str, ...]:
        """The words ``word`` should land next to: its group-mates (for a hub group, members' mate is the hub)."""
        if self.hub is None:
            return tuple(w for w in self.members if w != word)
        return self.members if word == self.hub else (self.hub,)


def group_words(groups: list[Group]) -> list[str]:
    """Every word of the groups (hubs and members), sorted: the words swapvec must learn, protect and evaluate."""
    return sorted({w for g in groups for w in g.words})


def parse_groups(text: str, source: str = "groups") -> list[tuple[int, str | None, list[str]]]:
    """Parse a groups file's text into ``(line, hub or None, raw member words)``; words are not yet tokenised.

    Raises
    ------
    BadInput
        An empty hub, a hub without members, or a group of fewer than two words.
    """
    parsed = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        hub: str | None = None
        if line.count(":") > 1:
            raise BadInput(f"{source}:{number}: a second ':' (a line holds one group: 'hub: member member ...')")
        if ":" in line:
            head, _, rest = line.partition(":")
            hub = head.strip()
            if not hub:
                raise BadInput(f"{source}:{number}: empty hub before ':'")
            if len(hub.split()) > 1:
                raise BadInput(f"{source}:{number}: a hub is one word, got {hub!r}")
            members = rest.split()
            if not members:
                raise BadInput(f"{source}:{number}: hub {hub!r} has no members after ':'")
        else:
            members = line.split()
            if len(members) < 2:
                raise BadInput(f"{source}:{number}: a group needs at least two words, got {line!r}")
        parsed.append((number, hub, members))
    return parsed


def read_groups_file(path: str) -> list[tuple[int, str | None, list[str]]]:
    """Read and parse a groups file (:func:`parse_groups`), without Spark: preflight runs it before a session starts.

    A UTF-8 byte-order mark (as Windows editors save) is skipped.

    Raises
    ------
    BadInput
        A missing file, a folder, a file that is not UTF-8 text, a malformed line, or no group at all.
    """
    file = Path(path)
    if file.is_dir():
        raise BadInput(f"augment.groups_path: {path} is a folder, not a groups file")
    if not file.is_file():
        raise BadInput(f"augment.groups_path: file not found: {path}")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"augment.groups_path: {path} is not UTF-8 text") from None
    parsed = parse_groups(text, source=file.name)
    if not parsed:
        raise BadInput(f"augment.groups_path: {path} holds no groups")
    return parsed


def _checked(
    parsed: list[tuple[int, str | None, list[str]]],
    source: str,
    cfg: TokenizeConfig,
    tokens_of: Callable[[str], list[str] | None],
) -> list[Group]:
    """The groups of parsed lines, each word checked: one token as written under ``tokens_of`` (None: not known
    here), and in one group only.

    Raises
    ------
    BadInput
        The first word that fails, with its line number.
    """
    seen: dict[str, int] = {}
    groups = []
    for number, hub, members in parsed:
        words = []
        for raw in ([hub] if hub else []) + members:
            written = raw.lower() if cfg.lowercase else raw
            tokens = tokens_of(raw)
            if tokens is not None and tokens != [written]:
                # c++ would become c and be swapped wherever the letter c stands alone; "animal," would be animal.
                shape = f"{tokens[0]!r}" if len(tokens) == 1 else f"{len(tokens)} tokens {tokens}"
                raise BadInput(
                    f"{source}:{number}: {raw!r} is {shape if tokens else 'no token'} under tokenize.pattern; a group "
                    "word must be one token as written (words are separated by spaces, not commas)"
                )
            if written in seen:
                where = "twice on that line" if seen[written] == number else f"also on line {seen[written]}"
                raise BadInput(f"{source}:{number}: {written!r} is {where}; a word belongs to one group")
            seen[written] = number
            words.append(written)
        groups.append(
            Group(hub=words[0], members=tuple(words[1:]), line=number) if hub else Group(tuple(words), line=number)
        )
    return groups


def check_groups_file(path: str, tokenize_cfg: TokenizeConfig) -> None:
    """Everything about a groups file that needs no Spark: :func:`read_groups_file`, a word in two groups, and (under
    the default ``tokenize.pattern``) a word that is not one token as written. Preflight runs it.

    Raises
    ------
    BadInput
        The first problem, with its line number.
    """
    _checked(read_groups_file(path), Path(path).name, tokenize_cfg, lambda raw: python_tokens(raw, tokenize_cfg))


def load_groups(spark: SparkSession, path: str, tokenize_cfg: TokenizeConfig) -> list[Group]:
    """Read a groups file and pass its words through the corpus tokeniser.

    Raises
    ------
    BadInput
        What :func:`read_groups_file` refuses, a word that is not one token as written (after lower-casing), or a
        word in two groups.
    """
    parsed = read_groups_file(path)
    raw_words = [w for _, hub, members in parsed for w in ([hub] if hub else []) + members]
    tokens = iter(tokenize_words(spark, raw_words, tokenize_cfg))
    return _checked(parsed, Path(path).name, tokenize_cfg, lambda raw: next(tokens))


def substitutions(groups: list[Group]) -> dict[str, tuple[str, ...]]:
    """word -> the words that replace it in copies. Plain: every other member. Hub: the hub -> each member."""
    subs: dict[str, tuple[str, ...]] = {}
    for group in groups:
        if group.hub is None:
            for word in group.members:
                subs[word] = group.mates(word)
        else:
            subs[group.hub] = group.members
    return subs


def augment(sentences: DataFrame, subs: Mapping[str, tuple[str, ...]], max_copies: int, seed: int) -> DataFrame:
    """Add swapped copies of the sentences that hold group words; a pure Spark transform, no shuffle.

    Parameters
    ----------
    sentences
        ``sentence_id, chunk, tokens`` as ``tokenize.tokenize`` makes them.
    subs
        ``substitutions(groups)``; small (the group words), so it travels in the query plan.
    max_copies
        At most this many copies of one sentence.
    seed
        Chooses the copies when a sentence has more candidates than ``max_copies``.

    Returns
    -------
    DataFrame
        ``sentence_id, chunk, copy int, tokens``: copy 0 is the original.

    Examples
    --------
    ``a x`` with the plain group ``a b c`` gives ``a x`` (copy 0), ``b x`` and ``c x``.
    """
    originals = sentences.select("sentence_id", "chunk", F.lit(0).alias("copy"), "tokens")
    if not subs:
        return originals
    table = F.create_map(*[part for w, s in sorted(subs.items()) for part in (F.lit(w), F.array(*map(F.lit, s)))])
    present = F.filter(F.array_distinct("tokens"), lambda t: F.map_contains_key(table, t))
    candidates = F.flatten(
        F.transform(
            present,
            lambda w: F.transform(
                table[w],
                lambda s: F.struct(
                    F.xxhash64(F.col("sentence_id"), F.col("chunk"), w, s, F.lit(seed)).alias("h"),
                    w.alias("w"),
                    s.alias("s"),
                ),
            ),
        )
    )
    chosen = F.slice(F.array_sort(candidates), 1, max_copies)
    copies = (
        sentences.select("sentence_id", "chunk", "tokens", chosen.alias("_swaps"))
        .where(F.size("_swaps") > 0)
        .select("sentence_id", "chunk", "tokens", F.posexplode("_swaps").alias("_i", "_swap"))
        .select(
            "sentence_id",
            "chunk",
            (F.col("_i") + 1).cast("int").alias("copy"),
            F.transform("tokens", lambda t: F.when(t == F.col("_swap.w"), F.col("_swap.s")).otherwise(t)).alias(
                "tokens"
            ),
        )
    )
    return originals.unionByName(copies)


def count_words(sentences: DataFrame, corpus: str = "the corpus") -> Stats:
    """``sentences`` and ``words`` of a sentences table (one Spark job).

    Raises
    ------
    BadInput
        No sentence at all: the corpus is empty or holds no words.
    """
    row = sentences.select(
        F.count(F.lit(1)).alias("rows"), F.coalesce(F.sum(F.size("tokens")), F.lit(0)).alias("words")
    ).first()
    if row.rows == 0:
        raise BadInput(f"{corpus} has no tokens: it is empty or holds no words")
    return Stats(row_counts={"sentences": int(row.rows), "words": int(row.words)})


def augment_corpus(
    sentences: DataFrame, groups: list[Group], cfg: AugmentConfig, seed: int, corpus: str = "the corpus"
) -> tuple[DataFrame, Stats]:
    """The augment stage: the sentences plus the groups' swapped copies (persisted: training reads them often).

    With ``augment.method`` ``retrofit`` no copies are made (the groups are pulled together after training).

    Returns
    -------
    (DataFrame, Stats)
        ``augment``'s table, and the counts before and after (``augmentation_factor``: words trained on / words in
        the corpus), the groups' words absent from the corpus (``details.groups_absent_from_corpus``).

    Raises
    ------
    BadInput
        An empty corpus, or groups none of whose words occur in it.
    """
    stats = count_words(sentences, corpus)
    if groups:
        wanted = group_words(groups)
        # Bounded by the group words.
        found = {
            r.word
            for r in sentences.select(F.explode("tokens").alias("word"))
            .where(F.col("word").isin(wanted))
            .distinct()
            .collect()
        }
        if not found:
            raise BadInput(f"no word of {cfg.groups_path} occurs in the corpus (after tokenisation)")
        absent = [w for w in wanted if w not in found]
        if absent:
            event(_log, "groups.absent_from_corpus", words=absent, note="learned from swapped copies only, if at all")
        stats.details["groups_absent_from_corpus"] = absent
        stats.row_counts["groups"] = len(groups)
    subs = substitutions(groups) if cfg.method != "retrofit" else {}
    augmented = augment(sentences, subs, cfg.max_copies_per_sentence, seed).persist(StorageLevel.MEMORY_AND_DISK)
    # No substitutions, no copies: the corpus's counts are the augmented ones (a pass over the corpus saved).
    after = count_words(augmented, corpus) if subs else stats
    before_words = stats.row_counts["words"]
    stats.row_counts.update(
        augmented_sentences=after.row_counts["sentences"], augmented_words=after.row_counts["words"]
    )
    stats.metrics["augmentation_factor"] = after.row_counts["words"] / before_words if before_words else 1.0
    event(
        _log,
        "augment.done",
        sentences=stats.row_counts["sentences"],
        copies=after.row_counts["sentences"] - stats.row_counts["sentences"],
        factor=round(stats.metrics["augmentation_factor"], 4),
    )
    return augmented, stats
