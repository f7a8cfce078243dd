"""Constraints as word pairs, and the lexicon (``augment.lexicon_path``): a thesaurus's pairs for specialisation.

Specialisation works on pairs: attract pairs (every two words of a plain group, a hub with each of its members) and
repel pairs (every left word of a ``left != right`` line with every right word). :func:`pairs_of` takes them from
the groups file; a lexicon gives them at a thesaurus's scale.

A lexicon is written in the groups file's syntax (plain lines, hub lines, ``!=`` lines), but it is a list of pairs,
not of groups: a word may stand on any number of lines, and lines are not evaluated as groups. Its words must each
be one token as written, as in the groups file. A pair that is both attracted and repelled (in the lexicon, or
across the lexicon and the groups file, where two words of one group attract) is refused with both line numbers:
specialisation cannot honour both. Words the corpus does not hold are skipped when the vectors are specialised.

Memory: the driver holds the pairs as Python tuples of strings with the line of each (about 300 bytes a pair where
each line gives one: 560 MB for 1.9 million; reading such a file peaks at twice that). So a file may give at most
:data:`swapvec.groups.MAX_PAIRS` (2,000,000) pairs, counted from each line's word count while it is parsed, before any
pair is made: one line of 3,000 words would give 4.5 million, one of 200,000 words 20 billion. A lexicon's plain
lines are not held to the groups file's ``TOP + 1`` words: they make no top-10 promise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.groups import Group, ParsedFile, Repel, load_constraints, read_groups_file, spelt
from swapvec.tokenize import Spelling, python_spelling, tokenize_words

#: Where a pair was written: (file name, line number).
Origin = tuple[str, int]


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


@dataclass
class Pairs:
    """Attract and repel pairs of words, each pair sorted, with the line that first wrote it."""

    attract: dict[tuple[str, str], Origin] = field(default_factory=dict)
    repel: dict[tuple[str, str], Origin] = field(default_factory=dict)
    #: The phrases among the words, as the tokens each stands for in the corpus.
    phrases: set[tuple[str, ...]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.attract or self.repel)

    @property
    def words(self) -> list[str]:
        """Every word of a pair, sorted."""
        return sorted({w for pairs in (self.attract, self.repel) for pair in pairs for w in pair})

    def add(self, a: str, b: str, attract: bool, origin: Origin) -> None:
        """Add one pair; a pair already on the other side is refused with both lines."""
        pair = _pair(a, b)
        mine, other = (self.attract, self.repel) if attract else (self.repel, self.attract)
        if pair in other:
            (file, line), (first_file, first_line) = origin, other[pair]
            where = f"line {first_line}" if first_file == file else f"{first_file}:{first_line}"
            kind = "repelled" if attract else "attracted"
            raise BadInput(f"{file}:{line}: {a!r} and {b!r} are {kind} on {where}; a pair cannot attract and repel")
        mine.setdefault(pair, origin)

    def add_line(
        self, origin: Origin, members: Sequence[str], hub: str | None = None, right: Sequence[str] | None = None
    ) -> None:
        """Add one line's pairs: every left word (``members``) with every ``right`` word, repelled; else a hub with
        each member, or every two distinct members of a plain line, attracted."""
        if right is not None:
            for a in members:
                for b in right:
                    self.add(a, b, False, origin)
        elif hub is not None:
            for member in members:
                self.add(hub, member, True, origin)
        else:
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    if a != b:
                        self.add(a, b, True, origin)

    def merge(self, other: Pairs) -> Pairs:
        """These pairs and ``other``'s (refused where one attracts what the other repels)."""
        out = Pairs(dict(self.attract), dict(self.repel), self.phrases | other.phrases)
        for attract, pairs in ((True, other.attract), (False, other.repel)):
            for (a, b), origin in pairs.items():
                out.add(a, b, attract, origin)
        return out


def pairs_of(groups: list[Group], repels: list[Repel], source: str = "groups") -> Pairs:
    """The attract and repel pairs of a groups file's groups and repel lines."""
    pairs = Pairs()
    for group in groups:
        pairs.add_line((source, group.line), group.members, hub=group.hub)
    for rep in repels:
        pairs.add_line((source, rep.line), rep.left, right=rep.right)
    return pairs


def _lexicon_pairs(parsed: ParsedFile, source: str, cfg: TokenizeConfig, spell: Callable[[str], Spelling]) -> Pairs:
    """The pairs of a parsed lexicon, each word checked to be one token as written under ``spell``."""
    pairs = Pairs(phrases=parsed.phrases(spell))

    def token(raw: str, number: int) -> str:
        return spelt(raw, number, source, cfg, spell)

    lines = [(number, hub, members, None) for number, hub, members in parsed.groups]
    lines += [(number, None, left, right) for number, left, right in parsed.repels]
    for number, hub, members, right in sorted(lines, key=lambda line: line[0]):  # in file order, for the messages
        words = [token(raw, number) for raw in members]
        others = [token(raw, number) for raw in right] if right is not None else None
        head = token(hub, number) if hub is not None else None
        both = [a for a in words if a in (others or ()) or a == head]
        if both:
            where = "on both sides of '!='" if others is not None else "its own hub"
            raise BadInput(f"{source}:{number}: {both[0]!r} is {where}")
        pairs.add_line((source, number), words, hub=head, right=others)
    return pairs


def _read(path: str) -> ParsedFile:
    return read_groups_file(path, key="augment.lexicon_path")


def check_lexicon_file(path: str, tokenize_cfg: TokenizeConfig) -> Pairs:
    """Everything about a lexicon that needs no Spark (see :func:`load_lexicon`); preflight runs it. Returns its
    pairs (under another ``tokenize.pattern`` than the default, its words are checked in Spark only).

    Raises
    ------
    BadInput
        The first problem, with its line number.
    """
    parsed = _read(path)
    known: dict[str, Spelling] = {}

    def spell(raw: str) -> Spelling:
        if raw not in known:
            known[raw] = python_spelling(raw, tokenize_cfg)
        return known[raw]

    return _lexicon_pairs(parsed, Path(path).name, tokenize_cfg, spell)


def load_lexicon(spark: SparkSession, path: str, tokenize_cfg: TokenizeConfig) -> Pairs:
    """A lexicon's pairs, its words passed through the corpus tokeniser (once each, in one Spark job).

    Raises
    ------
    BadInput
        A missing or malformed file, a word that is not one token as written (after lower-casing), a repel line
        with one word on both sides, a pair both attracted and repelled; with the line number.
    """
    parsed = _read(path)
    raw_words = parsed.words()
    spellings = dict(zip(raw_words, tokenize_words(spark, raw_words, tokenize_cfg), strict=True))
    return _lexicon_pairs(parsed, Path(path).name, tokenize_cfg, spellings.__getitem__)


@dataclass(frozen=True)
class Constraints:
    """What a run is asked to honour: the groups file's groups and repel lines, and the lexicon's pairs.

    ``pairs`` is every attract and repel pair of both, merged when the files are loaded, so that a pair that one
    file attracts and the other repels is refused before any training.
    """

    groups: list[Group] = field(default_factory=list)
    repels: list[Repel] = field(default_factory=list)
    lexicon: Pairs | None = None
    pairs: Pairs = field(default_factory=Pairs)

    def __bool__(self) -> bool:
        return bool(self.groups or self.repels or self.lexicon)

    @property
    def phrases(self) -> set[tuple[str, ...]]:
        """The phrases the groups file and the lexicon name, as the tokens each stands for in the corpus."""
        return self.pairs.phrases


def load_all(
    spark: SparkSession, groups_path: str | None, lexicon_path: str | None, cfg: TokenizeConfig
) -> Constraints:
    """The :class:`Constraints` of a run: its groups file and its lexicon, either of which may be None.

    Raises
    ------
    BadInput
        What :func:`swapvec.groups.load_constraints` and :func:`load_lexicon` refuse, and a pair one file attracts
        and the other repels.
    """
    groups, repels, phrases = load_constraints(spark, groups_path, cfg) if groups_path else ([], [], set())
    lexicon = load_lexicon(spark, lexicon_path, cfg) if lexicon_path else None
    own = pairs_of(groups, repels, Path(groups_path).name if groups_path else "groups")
    own.phrases = phrases
    return Constraints(groups, repels, lexicon, own.merge(lexicon) if lexicon else own)
