"""The groups file: word groups to pull together, and repel lines to push apart. ``#`` starts a comment.

* ``a b c`` is a plain group: its words should be each other's neighbours.
* ``hub: a b c`` is a hub group: the hub should be each member's nearest word.
* ``a b != c d`` is a repel line: no word left of ``!=`` should be near a word right of it (antonyms, a product
  and its competitor). Only ``augment.method`` ``specialize`` and ``swap+specialize`` can use them; with any other
  method a file that holds one is refused.

A word may belong to one group only: a word in two groups is refused with both line numbers (merging them silently
would join groups the user kept apart; write one line if they belong together). A word may stand on many repel lines,
and in a group and on repel lines, but never on both sides of one line nor across a line from its own group-mate.

A plain group holds at most ``TOP + 1`` (11) words: each must have all its mates among its ``TOP`` nearest words, and
more mates cannot fit. A hub line has no such limit (each member needs only its hub), nor has a lexicon (pairs only).

A line gives specialisation word pairs (:mod:`swapvec.lexicon`): every two words of a plain line, a hub with each
member, every left word of a repel line with every right word. :func:`parse_file` counts them from the word counts
before any is made and refuses a file of more than :data:`MAX_PAIRS` (2,000,000), at the line that passes it: the
driver holds each pair (about 300 bytes), and one line of 200,000 words would give 20 billion.

Every word must be one token as written under ``tokenize.pattern`` (after lower-casing): preflight checks it with the
corpus tokeniser's rule in Python (:func:`swapvec.tokenize.python_spelling`), and :func:`load_constraints` with the
corpus tokeniser itself (:func:`swapvec.tokenize.tokenize_words`).

A term of several words is written in double quotes (``entertainment: movies "motion picture"``): a phrase. Each of
its words must be one token as written; in the tables it is one token, its words joined by ``tokenize.phrase_joiner``
(``motion_picture``), and :mod:`swapvec.phrases` makes every occurrence in the corpus that token.

This module is long because it holds the whole syntax the groups file and the lexicon share: the parser, the checks
of each line and word, and the readers with and without Spark.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pyspark.sql import SparkSession

from swapvec.config import TokenizeConfig
from swapvec.errors import BadInput
from swapvec.tokenize import Spelling, python_spelling, tokenize_words

#: The methods that use repel lines.
REPEL_METHODS = ("specialize", "swap+specialize")

#: The most word pairs one file may give, counted as written (repeats included): about 600 MB on the driver, room
#: for a thesaurus many times WordNet's (whose relations give 94,000).
MAX_PAIRS = 2_000_000
#: The nearest words a group's promise counts (a member's mates, a hub member's hub), the evaluation's and the
#: guarantee's; a plain group's mates must fit in each member's ``TOP``.
TOP = 10


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


@dataclass(frozen=True)
class Repel:
    """One ``left != right`` line, its words already tokenised: every left word must stay away from every right
    word."""

    left: tuple[str, ...]
    right: tuple[str, ...]
    line: int = 0

    @property
    def words(self) -> tuple[str, ...]:
        return self.left + self.right

    def pairs(self) -> list[tuple[str, str]]:
        return [(a, b) for a in self.left for b in self.right]


class ParsedFile(NamedTuple):
    """A groups file's lines, words not yet tokenised: ``(line, hub or None, members)`` and ``(line, left, right)``.
    A phrase stands as its words joined by one space (``motion picture``)."""

    groups: list[tuple[int, str | None, list[str]]]
    repels: list[tuple[int, list[str], list[str]]]

    def terms(self) -> set[str]:
        """Every word and phrase as written, once each."""
        written = {w for _, hub, members in self.groups for w in ([hub] if hub else []) + members}
        return written | {w for _, left, right in self.repels for w in left + right}

    def words(self) -> list[str]:
        """Every word as written (a phrase's words one by one), once each, sorted: what the tokeniser must check."""
        return sorted({w for term in self.terms() for w in term.split(" ")})

    def phrases(self, spell: Callable[[str], Spelling]) -> set[tuple[str, ...]]:
        """The phrases, each as the tokens it stands for in the corpus: its words as ``spell`` (the tokeniser)
        lower-cases them."""
        return {tuple(spell(w).text for w in t.split(" ")) for t in self.terms() if " " in t}


class GroupsFile(NamedTuple):
    """A groups file's groups and repel lines, words tokenised, and the phrases among its words (as token tuples)."""

    groups: list[Group]
    repels: list[Repel]
    phrases: set[tuple[str, ...]]


def group_words(groups: list[Group]) -> list[str]:
    """Every word of the groups (hubs and members), sorted: the words swapvec must learn, protect and evaluate."""
    return sorted({w for g in groups for w in g.words})


def constrained_words(groups: list[Group], repels: list[Repel]) -> list[str]:
    """Every word of the groups and of the repel lines, sorted."""
    return sorted(set(group_words(groups)) | {w for r in repels for w in r.words})


#: One word, or a phrase in double quotes; either followed by a space or the end.
_TERM = re.compile(r'\s*(?:"([^"]*)"|([^\s"]+))(?=\s|$)')


def terms(text: str, number: int, source: str) -> list[str]:
    """The words of part of a line, a phrase in double quotes as its words joined by one space.

    Examples
    --------
    >>> terms('movies  "Motion   Picture" films', 1, "groups")
    ['movies', 'Motion Picture', 'films']
    """
    found, at, text = [], 0, text.strip()
    while at < len(text):
        match = _TERM.match(text, at)
        if match is None:
            raise BadInput(
                f'{source}:{number}: a phrase is written in double quotes, apart from other words: "motion picture"'
            )
        phrase, word = match.groups()
        if phrase is not None and not phrase.split():
            raise BadInput(f'{source}:{number}: empty quotes ""')
        found.append(" ".join(phrase.split()) if phrase is not None else word)
        at = match.end()
    return found


def _repel_line(number: int, line: str, source: str) -> tuple[int, list[str], list[str]]:
    if ":" in line or line.count("!=") > 1:
        raise BadInput(f"{source}:{number}: a repel line is 'word word != word word' (one '!=', no ':')")
    head, _, tail = line.partition("!=")
    left, right = terms(head, number, source), terms(tail, number, source)
    if not left or not right:
        raise BadInput(f"{source}:{number}: a repel line needs words on both sides of '!='")
    return number, left, right


def _group_line(number: int, line: str, source: str) -> tuple[int, str | None, list[str]]:
    if line.count(":") > 1:
        raise BadInput(f"{source}:{number}: a second ':' (a line holds one group: 'hub: member member ...')")
    if ":" not in line:
        members = terms(line, number, source)
        if len(members) < 2:
            raise BadInput(f"{source}:{number}: a group needs at least two words, got {line!r}")
        return number, None, members
    head, _, rest = line.partition(":")
    hub = head.strip()
    if not hub:
        raise BadInput(f"{source}:{number}: empty hub before ':'")
    heads = terms(hub, number, source)
    if len(heads) > 1:
        raise BadInput(f'{source}:{number}: a hub is one word or one "phrase", got {hub!r}')
    members = terms(rest, number, source)
    if not members:
        raise BadInput(f"{source}:{number}: hub {heads[0]!r} has no members after ':'")
    return number, heads[0], members


def line_pairs(hub: str | None, members: list[str], right: list[str] | None = None) -> int:
    """The word pairs a line gives (``members`` a repel line's left side), counted without making them."""
    if right is not None:
        return len(members) * len(right)
    return len(members) if hub is not None else len(members) * (len(members) - 1) // 2


#: What shrinks a line of each kind that alone passes :data:`MAX_PAIRS`.
_FEWER = {
    "plain": "write it as a hub line ('hub: a b c', one pair a member) or as shorter lines",
    "hub": "keep the members that matter",
    "repel": "split it into '!=' lines of the words that must repel",
}


def _within_bound(number: int, source: str, pairs: int, given: int, kind: str) -> None:
    """Refuse a line whose pairs (``pairs``), or the file's up to it (``given``), pass :data:`MAX_PAIRS`."""
    if given > MAX_PAIRS:
        what = f"this {kind} line gives {pairs:,}" if pairs > MAX_PAIRS else f"the lines up to here give {given:,}"
        fix = _FEWER[kind] if pairs > MAX_PAIRS else "keep the pairs that matter (a hub line gives one a member)"
        raise BadInput(f"{source}:{number}: {what} word pairs, over the {MAX_PAIRS:,} a file may give; {fix}")


def parse_file(text: str, source: str = "groups") -> ParsedFile:
    """Parse a groups file's text (:class:`ParsedFile`); words are not yet tokenised.

    Raises
    ------
    BadInput
        An empty hub, a hub without members, a group of fewer than two words, a repel line without words on both
        sides, more word pairs than :data:`MAX_PAIRS` (counted before any is made); with the line number.
    """
    groups, repels, given = [], [], 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "!=" in line:
            repels.append(_repel_line(number, line, source))
            _, left, right = repels[-1]
            pairs, kind = line_pairs(None, left, right), "repel"
        else:
            groups.append(_group_line(number, line, source))
            _, hub, members = groups[-1]
            pairs, kind = line_pairs(hub, members), "plain" if hub is None else "hub"
        given += pairs
        _within_bound(number, source, pairs, given, kind)
    return ParsedFile(groups, repels)


def parse_groups(text: str, source: str = "groups") -> list[tuple[int, str | None, list[str]]]:
    """The groups of a groups file's text (:func:`parse_file`), repel lines left out."""
    return parse_file(text, source).groups


def read_groups_file(path: str, key: str = "augment.groups_path") -> ParsedFile:
    """Read and parse a groups file (:func:`parse_file`), without Spark: preflight runs it before a session starts.

    A UTF-8 byte-order mark (as Windows editors save) is skipped; ``key`` is the setting that named the file, for
    the messages.

    Raises
    ------
    BadInput
        A missing file, a folder, a file that is not UTF-8 text, a malformed line, or no line at all.
    """
    file = Path(path)
    if file.is_dir():
        raise BadInput(f"{key}: {path} is a folder, not a groups file")
    if not file.is_file():
        raise BadInput(f"{key}: file not found: {path}")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{key}: {path} is not UTF-8 text") from None
    parsed = _parsed(text, file.name)
    if not parsed.groups and not parsed.repels:
        raise BadInput(f"{key}: {path} holds no groups")
    return parsed


@functools.lru_cache(maxsize=2)
def _parsed(text: str, source: str) -> ParsedFile:
    """:func:`parse_file`, once for each text: preflight, the phrase check and loading each read the file, and a
    lexicon of a million lines takes seconds to parse. Holds the last two files (a groups file and a lexicon), as a
    run holds them anyway; callers share the lists and do not change them."""
    return parse_file(text, source)


def one_token(raw: str, number: int, source: str, spelling: Spelling) -> str:
    """``raw`` as the tables spell it (the tokeniser's lower-casing), refused unless it is one token as written
    (``spelling.tokens`` None: not known)."""
    written, tokens = spelling
    if tokens is not None and tokens != [written]:
        # c++ would become c and be swapped wherever the letter c stands alone; "animal," would be animal.
        shape = f"{tokens[0]!r}" if len(tokens) == 1 else f"{len(tokens)} tokens {tokens}"
        hint = f' (a phrase is written in double quotes: "{" ".join(tokens)}")' if len(tokens) > 1 else ""
        raise BadInput(
            f"{source}:{number}: {raw!r} is {shape if tokens else 'no token'} under tokenize.pattern; a group "
            f"word must be one token as written (words are separated by spaces, not commas){hint}"
        )
    return written


def spelt(raw: str, number: int, source: str, cfg: TokenizeConfig, spell: Callable[[str], Spelling]) -> str:
    """A word or phrase (its words joined by one space) as the tables spell it: each word checked by
    :func:`one_token` with its spelling under ``spell``, a phrase's joined by ``tokenize.phrase_joiner``."""
    words = raw.split(" ")
    return cfg.phrase_joiner.join(one_token(w, number, source, spell(w)) for w in words)


def _promisable(number: int, members: list[str], source: str) -> None:
    """Refuse a plain group too large for its promise, which the guarantee step would chase by moving all its words
    far from where training put them, and still miss."""
    if len(members) > TOP + 1:
        raise BadInput(
            f"{source}:{number}: a plain group of {len(members)} words cannot have every mate in each word's top "
            f"{TOP}: at most {TOP + 1} words; write a hub line ('hub: a b c', each member needs only the hub nearest) "
            "or put the words in a lexicon (augment.lexicon_path with augment.method specialize)"
        )


def _checked(
    parsed: ParsedFile, source: str, cfg: TokenizeConfig, spell: Callable[[str], Spelling]
) -> tuple[list[Group], list[Repel]]:
    """The groups and repel lines of a parsed file, each word checked: one token as written under ``spell`` (its
    tokens None: not known here), in one group only, and on one side of a repel line from its group-mates; a plain
    group of at most ``TOP + 1`` words.

    Raises
    ------
    BadInput
        The first word that fails, with its line number.
    """
    seen: dict[str, int] = {}
    groups = []
    for number, hub, members in parsed.groups:
        if hub is None:
            _promisable(number, members, source)
        words = []
        for raw in ([hub] if hub else []) + members:
            written = spelt(raw, number, source, cfg, spell)
            if written in seen:
                where = "twice on that line" if seen[written] == number else f"also on line {seen[written]}"
                raise BadInput(f"{source}:{number}: {written!r} is {where}; a word belongs to one group")
            seen[written] = number
            words.append(written)
        groups.append(
            Group(hub=words[0], members=tuple(words[1:]), line=number) if hub else Group(tuple(words), line=number)
        )
    group_of = {w: g for g in groups for w in g.words}
    repels = []
    for number, left_raw, right_raw in parsed.repels:
        left = tuple(spelt(raw, number, source, cfg, spell) for raw in left_raw)
        right = tuple(spelt(raw, number, source, cfg, spell) for raw in right_raw)
        for a in left:
            for b in right:
                if a == b:
                    raise BadInput(f"{source}:{number}: {a!r} is on both sides of '!='")
                if a in group_of and b in group_of[a].words:
                    raise BadInput(
                        f"{source}:{number}: {a!r} and {b!r} are in one group (line {group_of[a].line}); they "
                        "cannot also repel"
                    )
        repels.append(Repel(left, right, line=number))
    return groups, repels


def check_groups_file(path: str, tokenize_cfg: TokenizeConfig, method: str) -> None:
    """Everything about a groups file that needs no Spark: :func:`read_groups_file`, a word in two groups, a repel
    line with a method that cannot use it, and (under the default ``tokenize.pattern``) a word that is not one
    token as written. Preflight runs it.

    Raises
    ------
    BadInput
        The first problem, with its line number.
    """
    parsed = read_groups_file(path)
    if parsed.repels and method not in REPEL_METHODS:
        raise BadInput(
            f"{Path(path).name}:{parsed.repels[0][0]}: a repel line ('!=') needs augment.method "
            f"{' or '.join(REPEL_METHODS)}, not {method}"
        )
    _checked(parsed, Path(path).name, tokenize_cfg, lambda raw: python_spelling(raw, tokenize_cfg))


def load_constraints(spark: SparkSession, path: str, tokenize_cfg: TokenizeConfig) -> GroupsFile:
    """Read a groups file and pass its words through the corpus tokeniser; returns its groups, repel lines and
    phrases.

    Raises
    ------
    BadInput
        What :func:`read_groups_file` refuses, a word that is not one token as written (after lower-casing), a word
        in two groups, or a repel line across a group.
    """
    parsed = read_groups_file(path)
    raw_words = parsed.words()
    spellings = dict(zip(raw_words, tokenize_words(spark, raw_words, tokenize_cfg), strict=True))
    spell = spellings.__getitem__
    return GroupsFile(*_checked(parsed, Path(path).name, tokenize_cfg, spell), parsed.phrases(spell))


def load_groups(spark: SparkSession, path: str, tokenize_cfg: TokenizeConfig) -> list[Group]:
    """The groups of a groups file (:func:`load_constraints`), repel lines left out."""
    return load_constraints(spark, path, tokenize_cfg).groups
