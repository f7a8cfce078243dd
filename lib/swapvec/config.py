"""The configuration of a swapvec run: every key, its default, its valid range and its meaning, declared once.

A run's config is the YAML file given with ``--config`` plus any number of ``--set dotted.key=value`` overrides,
validated here (the rules of reading a value are ``swapvec.settings``'). Unknown keys and invalid values are refused
with a message that names the key. ``docs/configuration.md`` is generated from these declarations.

This module is long because it is the one place where every setting is declared with its default, range and
meaning; split, the defaults would live in several places again.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from swapvec.errors import BadInput, one_line
from swapvec.log import mask, redact
from swapvec.settings import Invalid, Section, setting

#: Letters, combining marks and digits, with inner apostrophes kept (``don't``, ``l’homme``). Java regex syntax:
#: tokenisation runs inside Spark's JVM.
DEFAULT_TOKEN_PATTERN = r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*"


class InputConfig(Section):
    path: str | None = setting(
        None, "The corpus: a text file or folder, a Parquet path, a Delta table path, or `sample:lee` (required)."
    )
    format: Literal["text", "parquet", "delta"] | None = setting(
        None,
        "`text`, `parquet` or `delta`; inferred when unset (Delta if `_delta_log/` exists, Parquet if "
        "`*.parquet`, else text).",
    )
    column: str | None = setting(None, "The text column of Parquet or Delta input; the only string column if unset.")


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def _joiner(value: str) -> str:
    # A joiner of word characters would make motion+picture collide with a word of the corpus.
    if not value or len(value) > 5 or any(c.isalnum() or c.isspace() or c == '"' for c in value):
        raise ValueError("must be 1 to 5 characters, none a letter, digit, space or '\"' (default '_')")
    return value


class TokenizeConfig(Section):
    lowercase: bool = setting(True, "Lower-case the text before matching tokens and group words.")
    pattern: str = setting(
        DEFAULT_TOKEN_PATTERN,
        "Java regex; each match is a token (default: letters, marks and digits, inner apostrophes kept).",
        check=_not_empty,
    )
    min_length: int = setting(1, "Tokens shorter than this (in characters) are dropped.", ge=1, le=1000)
    max_sentence_length: int = setting(
        # gensim's kernel silently cuts sentences past 10,000 words: never let one reach it.
        1000,
        "Longer sentences are split into consecutive chunks of this many tokens, never cut.",
        ge=2,
        le=10_000,
    )
    phrase_joiner: str = setting(
        "_", "Joins a phrase's words into its token (`motion_picture`): no letters, digits or spaces.", check=_joiner
    )
    phrases: bool = setting(False, "Detect collocations over the corpus and make each one token (table `phrases`).")
    phrase_passes: int = setting(
        2, "Detection passes: each can join two tokens, so two give phrases of up to four words.", ge=1, le=3
    )
    phrase_scoring: Literal["default", "npmi"] = setting(
        "default", "`default`: Mikolov et al.'s (gensim's default); `npmi`: normalised pointwise mutual information."
    )
    phrase_threshold: float | None = setting(
        None, "A pair is a phrase above this score; 10 for `default` scoring, 0.5 for `npmi` when unset."
    )
    phrase_min_count: int = setting(5, "Pairs seen fewer times are never phrases.", ge=1)
    phrase_connectors: list[str] | Literal["english"] = setting(
        doc="Words that may stand inside a detected phrase but never start or end one (`bank_of_america`): a list, "
        "or `english` for gensim's ENGLISH_CONNECTOR_WORDS.",
        factory=list,
    )

    def check(self) -> None:
        t = self.phrase_threshold
        if t is not None and self.phrase_scoring == "default" and t <= 0:
            raise ValueError("tokenize.phrase_threshold must be > 0 with phrase_scoring default")
        if t is not None and self.phrase_scoring == "npmi" and not -1 <= t <= 1:
            raise ValueError("tokenize.phrase_threshold must be between -1 and 1 with phrase_scoring npmi")

    @property
    def connectors(self) -> frozenset[str]:
        """``phrase_connectors`` as a set of tokens (``english``: gensim's articles, prepositions and conjunctions)."""
        if self.phrase_connectors == "english":
            from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS

            return ENGLISH_CONNECTOR_WORDS
        return frozenset(w.lower() if self.lowercase else w for w in self.phrase_connectors)

    @property
    def threshold(self) -> float:
        """``phrase_threshold``, or its default for ``phrase_scoring`` (gensim's 10; 0.5 for npmi)."""
        if self.phrase_threshold is not None:
            return self.phrase_threshold
        return 10.0 if self.phrase_scoring == "default" else 0.5


class AugmentConfig(Section):
    groups_path: str | None = setting(None, "The groups file; no augmentation without it.")
    method: Literal["swap", "retrofit", "both", "specialize", "swap+specialize"] = setting(
        "swap",
        "`swap`: swapped copies; `retrofit`: no copies, group words pulled together after training (Faruqui et al., "
        "2015); `both`: swapped copies, then retrofitting; `specialize`: no copies, groups pulled together and repel "
        "lines (`a != b`) pushed apart after training (Attract-Repel, Mrksic et al., 2017); `swap+specialize`: "
        "swapped copies, then specialisation.",
    )
    max_copies_per_sentence: int = setting(
        10, "At most this many swapped copies of one sentence (chosen by a seeded hash).", ge=1, le=1000
    )
    guarantee: bool = setting(
        True,
        "After training, move the group words that miss the promise (the hub nearest to each member, plain mates in "
        "each other's top 10), and turn apart the repelled pairs still in each other's top 10, only as far as needed; "
        "`false` keeps the vectors as training and specialisation leave them.",
    )
    lexicon_path: str | None = setting(
        None,
        "A lexicon for `specialize` and `swap+specialize`: the groups file's syntax, but a list of pairs (a word may "
        "stand on many lines): every two words of a line attract, `!=` lines repel.",
    )
    affected_only: bool = setting(
        False,
        "With `train.init_from` and a groups file: train only the sentences that hold a group word (and their copies), "
        "starting from that model: groups added to a trained model at the cost of the sentences they touch.",
    )
    specialize_outside: bool = setting(
        False,
        "Specialisation also moves the words no constraint names, by a linear map learnt from the constrained words "
        "(post-specialisation, Vulic et al., 2018).",
    )
    retrofit_iterations: int = setting(10, "Retrofitting passes (Faruqui et al. use 10).", ge=1, le=1000, advanced=True)
    retrofit_weight: float = setting(
        1.0,
        "Pull of the group-mates against the trained vector: 1 is Faruqui et al.'s (the mates' mean weighs as much as "
        "the word's own trained vector); larger pulls harder.",
        gt=0,
        le=1000,
        advanced=True,
    )
    affected_epochs: int = setting(
        1,
        "With `augment.affected_only`: passes over the affected sentences and their copies, in place of "
        "`train.epochs` (the model trained those already; more passes over-train them).",
        ge=1,
        le=1000,
        advanced=True,
    )
    specialize_regularization: float = setting(
        0.45,
        "How strongly specialisation pulls each word it moves back toward its trained vector (Attract-Repel's "
        "regularisation): higher keeps more of what training learnt (WS-353, analogies), lower follows the "
        "constraints further (SimLex-999, antonyms apart).",
        ge=0.0,
        le=100.0,
        advanced=True,
    )

    def check(self) -> None:
        chosen = {
            "lexicon_path": self.lexicon_path,
            "specialize_outside": self.specialize_outside,
            "specialize_regularization": "specialize_regularization" in self.given,
        }
        for key, value in chosen.items():
            if value and self.after_training != "specialize":
                raise ValueError(f"augment.{key} needs augment.method specialize or swap+specialize, not {self.method}")

    @property
    def copies(self) -> bool:
        """True when the method swap-augments the corpus."""
        return self.method in ("swap", "both", "swap+specialize")

    @property
    def after_training(self) -> str | None:
        """What the method does to the trained vectors: ``retrofit``, ``specialize``, or None."""
        if self.method in ("retrofit", "both"):
            return "retrofit"
        return "specialize" if self.method in ("specialize", "swap+specialize") else None


class TrainConfig(Section):
    backend: Literal["gensim", "mllib"] = setting(
        "gensim", "`gensim` (gensim's kernels per shard, synchronised) or `mllib` (Spark MLlib's Word2Vec)."
    )
    vector_size: int = setting(100, "Dimensions of the vectors.", ge=1, le=4096)
    window: int = setting(5, "Context window, in words each side.", ge=1, le=100)
    min_count: int = setting(
        5, "Words seen fewer times in the corpus (as written, not the copies) get no vector.", ge=1
    )
    max_vocab_size: int | None = setting(None, "Keep only this many most frequent words.", ge=1)
    epochs: int = setting(5, "Passes over the data.", ge=1, le=1000)
    num_partitions: int = setting(
        2,
        "Parallelism of training. gensim: with `threads: auto` the shards (at most 8, fewer above the default "
        "`alpha`), with a number of threads `num_partitions / threads` shards; MLlib's `numPartitions`.",
        ge=1,
        le=10_000,
    )
    threads: int | Literal["auto"] = setting(
        "auto",
        "gensim: threads training each shard. `auto`: as many as the executors' cores allow for all shards at once "
        "(at most 8), each training task asking Spark for that many CPUs where the cluster manager can (standalone, "
        "YARN, Kubernetes on Spark 4), else the session's `spark.task.cpus` (1 in local mode). Above 1 faster but "
        "not bit-reproducible.",
        ge=1,
        le=256,
    )
    seed: int = setting(
        1,
        "The same seed and partitions give the same vectors, bit for bit, when training runs one thread a shard "
        "(`threads: 1`, or `auto` where each task gets one CPU).",
        ge=0,
        le=2**31 - 1,
    )
    alpha: float = setting(0.025, "Learning rate at the start, decayed linearly to `min_alpha`.", gt=0, le=1)
    min_alpha: float = setting(0.0001, "Learning rate at the end.", ge=0, le=1)
    # gensim-only options (MLlib is skip-gram with hierarchical softmax, fixed).
    sg: Literal[0, 1] = setting(1, "gensim: 1 skip-gram, 0 CBOW.")
    hs: Literal[0, 1] = setting(0, "gensim: 1 hierarchical softmax (then `negative: 0`), 0 negative sampling.")
    negative: int = setting(5, "gensim: negative samples a word (0 with `hs: 1`).", ge=0, le=100)
    sample: float = setting(
        1e-3, "gensim: subsampling of frequent words (group words are never subsampled).", ge=0, le=1
    )
    init_from: str | None = setting(
        None,
        "An earlier gensim run's `output.path`: start from its model table (known words from their trained weights, "
        "the vocabulary the union of both, counts added).",
    )
    init_version: int | None = setting(None, "The Delta version of `init_from`'s model table to start from.", ge=0)
    init_optional: bool = setting(
        False,
        "When `init_from` holds no model table yet, train from scratch instead of refusing (a daily job's first day).",
    )
    sync_rounds: int | None = setting(
        None,
        "gensim: synchronisation rounds over the whole training; unset: epochs x min(shards, 5), up to half fewer at "
        "up to 4 shards below 2.5M words an epoch, 1 for one shard.",
        ge=1,
        le=100_000,
        advanced=True,
    )
    weights_transport: Literal["auto", "broadcast", "files"] = setting(
        "auto",
        "gensim: how each round's weights reach the tasks: `broadcast` (classic Spark) or `files` staged under "
        "`staging_path` (Spark Connect, shared and serverless compute); `auto` picks.",
        advanced=True,
    )
    staging_path: str | None = setting(
        None,
        "Where `files` transport stages weights, readable by the executors; `<output.path>/_staging` when unset.",
        advanced=True,
    )
    replay_share: float = setting(
        0.2,
        "With `init_from`: also train this share of the run's sentences again, drawn from the model's `replay` table, "
        "so that a continuation does not forget them; 0: none.",
        ge=0,
        le=1,
        advanced=True,
    )
    replay_keep: int = setting(
        200_000,
        "gensim: sentences kept in the `replay` table, a uniform sample of all those the model was trained on; "
        "0: no table.",
        ge=0,
        le=10_000_000,
        advanced=True,
    )

    def check(self) -> None:
        if self.init_from and self.backend != "gensim":
            raise ValueError("train.init_from needs train.backend gensim: MLlib's Word2Vec cannot start from weights")
        if self.init_from and self.hs:
            raise ValueError(
                "train.init_from needs train.hs 0: hierarchical softmax's output weights belong to a tree that new "
                "counts rebuild"
            )
        if self.init_version is not None and not self.init_from:
            raise ValueError("train.init_version needs train.init_from (the run whose model table it names)")
        if self.hs == 0 and self.negative == 0:
            raise ValueError("train.negative must be > 0 when train.hs is 0 (no training objective otherwise)")
        if self.hs == 1 and self.negative > 0:
            raise ValueError("train.negative must be 0 when train.hs is 1 (one training objective at a time)")
        if self.min_alpha > self.alpha:
            raise ValueError("train.min_alpha must not exceed train.alpha")


class OutputConfig(Section):
    path: str = setting("warehouse", "The folder or URI under which the tables live.", min_length=1)
    format: Literal["delta", "parquet"] = setting("delta", "`delta` or `parquet`.")
    retention_hours: float = setting(
        168.0,
        "After each overwrite, files no version younger than this needs are removed (Delta: VACUUM; Parquet: old "
        "version folders, the last three kept). Lower it only if no reader holds an old version that long.",
        ge=0,
    )


class SimilarityConfig(Section):
    top_k: int = setting(10, "Neighbours listed per word; must be below the vocabulary size when set.", ge=1, le=1000)
    words: list[str] | str | None = setting(
        None, 'Only these query words: a list, or a file of one a line; a phrase as `"motion picture"`.'
    )
    mode: Literal["exact", "approximate"] = setting(
        "exact", "`exact`: every pair scored; `approximate`: inverted-file indexes (faiss), for millions of words."
    )
    block_size: int = setting(
        2048,
        "exact: query words scored together in a task (memory: block x vocabulary floats).",
        ge=16,
        le=65_536,
        advanced=True,
    )
    nprobe: int = setting(
        8,
        "approximate: lists searched per query to start from; more is slower and nearer exact.",
        ge=1,
        le=1_000_000,
        advanced=True,
    )
    recall_target: float = setting(
        0.95,
        "approximate: `nprobe` is raised by steps of 1.41x until each index finds this share of the exact top-k of "
        "1,000 sampled query words; an index that would need more than a quarter of its lists is replaced by exact "
        "search; 0 searches `nprobe` lists as given.",
        ge=0.0,
        le=1.0,
        advanced=True,
    )


class EvaluateConfig(Section):
    baseline: bool = setting(
        False,
        "`swapvec run` also trains without groups (table `baseline_vectors`) and prints before and after; "
        "`swapvec evaluate` compares with that table when it exists.",
    )
    max_vocab: int = setting(300_000, "Evaluate among at most this many most frequent words.", ge=100, advanced=True)


#: Spark's master URLs (a local session's ``spark.master``); anything else makes the JVM exit at start with a Java
#: stack and no hint of which setting was wrong. A standalone master is ``spark://HOST:PORT``, several for high
#: availability, with no user information (Spark refuses it: a password there would only be printed).
_MASTER = re.compile(
    r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|yarn"
    r"|spark://([\w.-]+|\[[0-9A-Fa-f:.]+\]):\d+(,([\w.-]+|\[[0-9A-Fa-f:.]+\]):\d+)*|(k8s|mesos)://\S+"
)
#: Spark conf keys that take a size, and Spark's way of writing one (no fraction: ``1.5g`` is refused by Spark).
_SIZE_KEY = re.compile(
    r"spark\.(driver|executor)\.(memory|memoryOverhead)|spark\.driver\.maxResultSize|.*\.offHeap\.size"
)
_SIZE = re.compile(r"\d+([kmgtp]b?|b)?", re.IGNORECASE)
#: ``spark.driver.memory`` of a local session becomes the driver JVM's ``-Xmx`` as written, and Java takes less than
#: Spark: one unit letter (``-Xmx4gb`` is refused at start, with no word of which setting), and a plain number is
#: bytes to Java but MiB to Spark. So a unit is needed, and at least 512m: Spark refuses a heap under 450 MiB.
_HEAP = re.compile(r"(?P<number>\d+)(?P<unit>[kmgt])", re.IGNORECASE)
_HEAP_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_MIN_HEAP = 512 * 2**20


def _master_url(value: str) -> str:
    if not _MASTER.fullmatch(value.strip()):
        raise ValueError("not a Spark master URL (local, local[4], local[*,4], spark://HOST:7077, yarn)")
    return value.strip()


def _stringified(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return value


def _sizes(value: dict[str, str]) -> dict[str, str]:
    for key, size in value.items():
        if key == "spark.driver.memory":
            heap = _HEAP.fullmatch(size)
            if heap is None:
                raise ValueError(
                    f"{key}: {size!r} is not a size the driver's JVM takes as -Xmx: a whole number and one of "
                    "k, m, g, t (4g, 4096m)"
                )
            if int(heap["number"]) * _HEAP_UNITS[heap["unit"].lower()] < _MIN_HEAP:
                raise ValueError(f"{key}: {size!r} is below 512m, the least heap a Spark driver starts with")
        elif _SIZE_KEY.fullmatch(key) and not _SIZE.fullmatch(size.strip()):
            raise ValueError(f"{key}: {size!r} is not a size as Spark writes one (512m, 4g)")
    return value


class SparkConfig(Section):
    master: str = setting(
        "local[*,4]",
        "Only when swapvec starts a local session itself: all cores, and a failed task tried 4 times as on a cluster.",
        check=_master_url,
    )
    conf: dict[str, str] = setting(
        doc="Extra Spark settings, only when swapvec starts a local session itself.",
        factory=dict,
        before=_stringified,
        check=_sizes,
    )


class LogConfig(Section):
    format: Literal["text", "json"] = setting("text", "`text`, or `json` for JSON lines.")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting("INFO", "The least level logged.")
    progress: bool = setting(
        True,
        "A line for long stages, on a terminal only: the training round, and the tasks done of the stage's current "
        "Spark job (`SWAPVEC_PROGRESS=0`: never).",
    )


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_KEY_CHARS = re.compile(r"[0-9A-Za-z:.+ -]{1,64}")
_KEY_RULE = "must be a date (2026-11-25), a date-time (2026-11-25T06:00:00Z) or a whole number"


def canonical_run_key(value: Any) -> str:
    """A run key in one spelling per logical run: ``2026-11-25``, ``2026-11-25T06:00:00Z`` or ``42``.

    A date-time at midnight UTC is spelled as its date, a date-time with an offset is converted to UTC, so that two
    keys are equal exactly when they name the same run (``swapvec.runs.run_key_version`` orders them).

    Raises
    ------
    ValueError
        Not a date, a date-time from 1970 on, or a whole number from 0 to 2**63 - 1.
    """
    if isinstance(value, bool):
        raise ValueError(_KEY_RULE)
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if not 0 <= number < 2**63:
            raise ValueError(f"{_KEY_RULE} from 0 to 2**63 - 1")
        return str(number)
    if isinstance(value, str):
        text = value.strip()
        if not _KEY_CHARS.fullmatch(text):
            raise ValueError(f"{_KEY_RULE}: at most 64 letters, digits and ':.+- '")
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(_KEY_RULE) from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise ValueError(_KEY_RULE)
    # A date-time without an offset is read as UTC: schedulers' logical dates are.
    moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if moment < _EPOCH:
        raise ValueError(f"{_KEY_RULE}, not before 1970-01-01")
    if moment.time() == dt.time():
        return f"{moment:%Y-%m-%d}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ")


class RunConfig(Section):
    key: str | None = setting(
        None,
        "The logical run, such as the schedule's date: a run whose key already succeeded writes nothing, and a retry "
        "of a failed one writes only what is missing. " + _KEY_RULE + ".",
        before=canonical_run_key,
    )


class TrackingConfig(Section):
    uri: str | None = setting(
        None, "MLflow tracking URI; `MLFLOW_TRACKING_URI` when unset, or Databricks' own on Databricks."
    )
    experiment: str | None = setting(
        None, "MLflow experiment; `MLFLOW_EXPERIMENT_NAME`, else `swapvec` (`/Shared/swapvec` on Databricks)."
    )


class Config(Section):
    input: InputConfig = setting(factory=InputConfig)
    tokenize: TokenizeConfig = setting(factory=TokenizeConfig)
    augment: AugmentConfig = setting(factory=AugmentConfig)
    train: TrainConfig = setting(factory=TrainConfig)
    output: OutputConfig = setting(factory=OutputConfig)
    similarity: SimilarityConfig = setting(factory=SimilarityConfig)
    evaluate: EvaluateConfig = setting(factory=EvaluateConfig)
    spark: SparkConfig = setting(factory=SparkConfig)
    log: LogConfig = setting(factory=LogConfig)
    run: RunConfig = setting(factory=RunConfig)
    tracking: TrackingConfig = setting(factory=TrackingConfig)

    def check(self) -> None:
        if self.augment.affected_only and not (self.train.init_from and self.augment.groups_path):
            raise ValueError(
                "augment.affected_only needs train.init_from (the model to continue) and augment.groups_path (the "
                "groups whose sentences it trains on)"
            )
        if "affected_epochs" in self.augment.given and not self.augment.affected_only:
            raise ValueError("augment.affected_epochs applies to augment.affected_only runs only")

    def to_json(self) -> str:
        """The resolved config as JSON, with secret-looking values redacted (safe to log and to store in `runs`)."""
        return json.dumps(redact(self.to_dict()), sort_keys=True)


#: Sections whose keys are themselves dotted (Spark conf keys): everything after the prefix is one key.
_OPAQUE_PREFIXES = ("spark.conf.",)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    prefix = next((p for p in _OPAQUE_PREFIXES if dotted.startswith(p) and len(dotted) > len(p)), None)
    keys = [*prefix.rstrip(".").split("."), dotted[len(prefix) :]] if prefix else dotted.split(".")
    if not all(keys):
        raise BadInput(f"--set {dotted!r}: the key must be dotted words, like train.window")
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise BadInput(f"--set {dotted}: {key} is a value, not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``dotted.key=value``; the value is read as YAML (``5`` is an int, ``[a, b]`` a list, ``null`` None)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise BadInput(f"--set {text!r}: expected dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError):  # ValueError: a date-like value that is no date, such as 2026-13-01
        value = raw
    return key.strip(), value


def _describe(error: Invalid) -> str:
    """One line naming the key; what was given is shown unless it is a mapping (or under ``spark.conf``, whose
    values may be credentials), with any secret inside it masked."""
    where = f"{'.'.join(error.loc)}: " if error.loc else ""
    given = error.given
    shown = ""
    if given is not _MISSING and not isinstance(given, dict | list) and error.loc[:2] != ("spark", "conf"):
        shown = f" (got {redact(given, '.'.join(error.loc))!r})"
    return mask(f"config: {where}{error.message}{shown}")


_MISSING = Invalid((), "").given


def read_tree(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> dict[str, Any]:
    """The config as a plain mapping of sections: the YAML file or the mapping given (if any), then the overrides in
    order (``load_config`` says how each is read)."""
    tree: dict[str, Any] = {}
    if isinstance(path, Mapping):
        tree = _tree_of(path)
    elif path is not None:
        file = Path(path)
        if not file.is_file():
            raise BadInput(f"config file not found: {file}")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a date such as 2026-13-01
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or one_line(exc)
            raise BadInput(f"config file {file} is not valid YAML{where}: {problem}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise BadInput(f"config file {file} must hold a mapping of sections, not {type(loaded).__name__}")
        tree = loaded or {}
    pairs = overrides.items() if isinstance(overrides, Mapping) else (parse_override(text) for text in overrides)
    for key, value in pairs:
        _set_dotted(tree, _key(key), value)
    return tree


def load_config(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> Config:
    """Read a YAML config (or take one as a mapping), apply overrides and validate.

    Parameters
    ----------
    path
        YAML file, or the config itself as a mapping: sections (``{"train": {"epochs": 3}}``), dotted keys
        (``{"train.epochs": 3}``) or both. None means built-in defaults only.
    overrides
        ``dotted.key=value`` strings (the value read as YAML, as ``--set`` reads it), or a mapping of dotted keys to
        values taken as they are (``{"run.key": "2024-05-01"}``); applied in order after ``path``.

    Returns
    -------
    Config
        The validated config.

    Raises
    ------
    BadInput
        A missing or malformed file, an unknown key or an invalid value; the message names it.

    Examples
    --------
    >>> load_config(None, ["train.window=3"]).train.window
    3
    """
    return parse_config(read_tree(path, overrides))


def parse_config(tree: dict[str, Any]) -> Config:
    """Validate a config given as a mapping of sections (as YAML reads it); BadInput names the first bad key."""
    try:
        return Config.parse(tree)
    except Invalid as exc:
        raise BadInput(_describe(exc)) from None


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise BadInput(f"config: {key!r} is not a key: keys are text, like train.window")
    return key


def _tree_of(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A config given as a mapping, as the tree a YAML file gives: sections first, then the dotted keys over them (a
    copy: the caller's mapping is never changed)."""
    tree: dict[str, Any] = {}
    for key, value in settings.items():
        if "." not in _key(key):
            tree[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)
    for key, value in settings.items():
        if "." in key:
            _set_dotted(tree, key, copy.deepcopy(value))
    return tree
