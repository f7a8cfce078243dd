"""The typed configuration of a swapvec run: every key, its default and its valid range, declared once.

A run's config is the YAML file given with ``--config`` plus any number of ``--set dotted.key=value``
overrides, validated here. Unknown keys and invalid values are refused with a message that names the key.

This module is long because it is the one place where every setting is declared with its default, range and
meaning; split, the defaults would live in several places again.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from swapvec.errors import BadInput, one_line
from swapvec.log import redact

#: Letters, combining marks and digits, with inner apostrophes kept (``don't``, ``l’homme``). Java regex syntax:
#: tokenisation runs inside Spark's JVM.
DEFAULT_TOKEN_PATTERN = r"[\p{L}\p{M}\p{N}]+(?:['’][\p{L}\p{M}\p{N}]+)*"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        # YAML reads `true` as a boolean and pydantic would take it as 1 for an int field.
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and _numeric(field.annotation):
                    raise ValueError(f"{name}: expected a number, got {str(value).lower()}")
        return data


def _numeric(annotation: Any) -> bool:
    if get_origin(annotation) is Literal:  # train.sg: Literal[0, 1]
        return all(type(v) is int for v in get_args(annotation))
    kinds = set(get_args(annotation)) or {annotation}
    return bool(kinds & {int, float}) and bool not in kinds


class InputConfig(_Section):
    path: str | None = Field(None, description="Corpus: a text file or folder, a Parquet path or a Delta table path.")
    format: Literal["text", "parquet", "delta"] | None = Field(None, description="Inferred from the path when absent.")
    column: str | None = Field(
        None, description="Text column for parquet/delta input; the only string column if unset."
    )


class TokenizeConfig(_Section):
    lowercase: bool = True
    pattern: str = Field(DEFAULT_TOKEN_PATTERN, description="Java regex; each match is a token.")
    min_length: int = Field(1, ge=1, le=1000, description="Tokens shorter than this (in characters) are dropped.")
    max_sentence_length: int = Field(
        # gensim's kernel silently cuts sentences past 10,000 words: never let one reach it.
        1000,
        ge=2,
        le=10_000,
        description="Longer sentences are split into consecutive chunks of this many tokens.",
    )

    phrase_joiner: str = Field(
        "_", description="Joins a phrase's words into its token (motion_picture): no letters, digits or spaces."
    )
    phrases: bool = Field(False, description="Detect collocations over the corpus and make each one token.")
    phrase_passes: int = Field(
        2, ge=1, le=3, description="Detection passes: each can join two tokens, so two give phrases of up to 4 words."
    )
    phrase_scoring: Literal["default", "npmi"] = Field(
        "default", description="default: Mikolov et al.'s (gensim's default); npmi: normalised pointwise MI."
    )
    phrase_threshold: float | None = Field(
        None, description="Phrases score above this; 10 for default scoring, 0.5 for npmi when unset."
    )
    phrase_min_count: int = Field(5, ge=1, description="Pairs seen fewer times are never phrases.")
    phrase_connectors: list[str] | Literal["english"] = Field(
        default_factory=list,
        description="Words that may stand inside a detected phrase but never start or end one (bank_of_america); "
        "english: gensim's ENGLISH_CONNECTOR_WORDS.",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("phrase_joiner")
    @classmethod
    def _joiner_apart_from_words(cls, value: str) -> str:
        # A joiner of word characters would make motion+picture collide with a word of the corpus.
        if not value or len(value) > 5 or any(c.isalnum() or c.isspace() or c == '"' for c in value):
            raise ValueError("must be 1 to 5 characters, none a letter, digit, space or '\"' (default '_')")
        return value

    @model_validator(mode="after")
    def _threshold_in_range(self) -> TokenizeConfig:
        t = self.phrase_threshold
        if t is not None and self.phrase_scoring == "default" and t <= 0:
            raise ValueError("phrase_threshold must be > 0 with phrase_scoring default")
        if t is not None and self.phrase_scoring == "npmi" and not -1 <= t <= 1:
            raise ValueError("phrase_threshold must be between -1 and 1 with phrase_scoring npmi")
        return self

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


class AugmentConfig(_Section):
    groups_path: str | None = Field(None, description="Groups file; no augmentation when unset.")
    method: Literal["swap", "retrofit", "both", "specialize", "swap+specialize"] = Field(
        "swap",
        description="swap: swapped copies; retrofit: no copies, group words pulled together after training "
        "(Faruqui et al., 2015); both: swapped copies, then retrofitting; specialize: no copies, groups pulled "
        "together and repel lines ('a != b') pushed apart after training (Attract-Repel, Mrksic et al., 2017); "
        "swap+specialize: swapped copies, then specialisation.",
    )
    retrofit_iterations: int = Field(10, ge=1, le=1000, description="Retrofitting passes (Faruqui et al. use 10).")
    retrofit_weight: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="Pull of the group-mates against the trained vector: 1 is Faruqui et al.'s (the mates' mean "
        "weighs as much as the word's own trained vector); larger pulls harder.",
    )
    max_copies_per_sentence: int = Field(
        10, ge=1, le=1000, description="At most this many swapped copies of one sentence (chosen by a seeded hash)."
    )
    guarantee: bool = Field(
        True,
        description="After training, move the group words that miss the promise (hub nearest to each member, "
        "plain mates in each other's top 10), and turn apart the repelled pairs still in each other's top 10, only "
        "as far as it needs; false: the vectors as training and specialisation leave them.",
    )
    lexicon_path: str | None = Field(
        None,
        description="A lexicon for specialisation: the groups file's syntax, but a list of pairs (a word may stand "
        "on many lines): every two words of a line attract (a hub each member), '!=' lines repel. Thesaurus scale.",
    )
    affected_only: bool = Field(
        False,
        description="With train.init_from: train only on the sentences that hold a group word (and their swapped "
        "copies), starting from that model: groups added to a trained model at the cost of the sentences they touch.",
    )
    affected_epochs: int = Field(
        1,
        ge=1,
        le=1000,
        description="With augment.affected_only: passes over the affected sentences and their copies, in place of "
        "train.epochs (the model trained those over the originals already; more passes over-train them).",
    )
    specialize_outside: bool = Field(
        False,
        description="Specialisation also moves the words no constraint names, by a linear map learnt from the "
        "constrained words (post-specialisation, Vulic et al., 2018).",
    )

    specialize_regularization: float = Field(
        0.45,
        ge=0.0,
        le=100.0,
        description="How strongly specialisation pulls each word it moves back toward its trained vector "
        "(Attract-Repel's regularisation): higher keeps more of what training learnt (WS-353, analogies), lower "
        "follows the constraints further (SimLex-999, antonyms apart). 0.45 was measured with WordNet's 94,000 "
        "pairs on GCIDE (bench/RESULTS.md).",
    )

    @model_validator(mode="after")
    def _specialisation_only(self) -> AugmentConfig:
        chosen = {
            "lexicon_path": self.lexicon_path,
            "specialize_outside": self.specialize_outside,
            "specialize_regularization": "specialize_regularization" in self.model_fields_set,
        }
        for key, value in chosen.items():
            if value and self.after_training != "specialize":
                raise ValueError(f"{key} needs augment.method specialize or swap+specialize, not {self.method}")
        return self

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


class TrainConfig(_Section):
    backend: Literal["gensim", "mllib"] = "gensim"
    vector_size: int = Field(100, ge=1, le=4096)
    window: int = Field(5, ge=1, le=100)
    min_count: int = Field(5, ge=1)
    max_vocab_size: int | None = Field(None, ge=1, description="Keep only this many most frequent words.")
    epochs: int = Field(5, ge=1, le=1000)
    num_partitions: int = Field(2, ge=1, le=10_000, description="Parallelism; gensim: P / threads shards, <= 8.")
    threads: int = Field(1, ge=1, le=256, description="gensim: threads a shard; above 1 not bit-reproducible.")
    seed: int = Field(1, ge=0, le=2**31 - 1)
    alpha: float = Field(0.025, gt=0, le=1)
    min_alpha: float = Field(0.0001, ge=0, le=1)
    # gensim-only options (MLlib is skip-gram with hierarchical softmax, fixed).
    sg: Literal[0, 1] = 1
    hs: Literal[0, 1] = 0
    negative: int = Field(5, ge=0, le=100)
    sample: float = Field(1e-3, ge=0, le=1)
    sync_rounds: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Synchronisation rounds; None: epochs x min(shards, 5), up to half fewer at up to 4 shards below "
        "2.5M words a epoch, 1 for one shard.",
    )
    weights_transport: Literal["auto", "broadcast", "files"] = Field(
        "auto", description="How per-round weights reach the tasks: broadcast (classic Spark) or staged .npy files."
    )
    staging_path: str | None = Field(
        None, description="Where 'files' transport stages weights; <output.path>/_staging."
    )
    init_from: str | None = Field(
        None,
        description="An earlier gensim run's output.path: start from its model table (known words from their trained "
        "input and output weights, the vocabulary the union of both, counts added).",
    )
    init_version: int | None = Field(None, ge=0, description="The Delta version of init_from's model table.")
    init_optional: bool = Field(
        False,
        description="When init_from holds no model table yet, train from scratch instead of refusing: the first run "
        "of a daily incremental job.",
    )
    replay_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="With init_from: also train this share of the run's sentences again, drawn from init_from's "
        "replay table (the sentences its model was trained on), so that a continuation does not forget them. 0: none.",
    )
    replay_keep: int = Field(
        200_000,
        ge=0,
        le=10_000_000,
        description="gensim: sentences kept in the replay table, a uniform sample of all the sentences the model was "
        "trained on, for later continuations. 0: no replay table.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
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
        return self


class OutputConfig(_Section):
    path: str = Field("warehouse", min_length=1, description="Folder (or URI) under which the tables live.")
    format: Literal["delta", "parquet"] = "delta"
    retention_hours: float = Field(
        168.0,
        ge=0,
        description="Delta: after each overwrite, files no version younger than this needs are vacuumed (Delta's "
        "default, 7 days). Below that, a reader still on an old version may lose its files.",
    )


class SimilarityConfig(_Section):
    top_k: int = Field(10, ge=1, le=1000)
    words: list[str] | str | None = Field(None, description="Only these query words (a list, or a file path).")
    block_size: int = Field(2048, ge=16, le=65_536, description="Query rows per block (memory: block x vocab floats).")
    mode: Literal["exact", "approximate"] = Field(
        "exact",
        description="exact: brute force; approximate: inverted-file indexes (faiss), for vocabularies in the millions.",
    )
    nprobe: int = Field(
        8, ge=1, le=1_000_000, description="approximate: lists searched per query to start from; more: slower, nearer."
    )
    recall_target: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="approximate: nprobe is raised by steps of 1.41x until each index finds this share of the exact "
        "top_k of 1,000 sampled query words; an index that cannot while scanning under a quarter of its words is "
        "replaced by exact search. 0: nprobe as given.",
    )


class EvaluateConfig(_Section):
    baseline: bool = Field(False, description="`swapvec run` also trains without groups and reports before/after.")
    max_vocab: int = Field(300_000, ge=100, description="Evaluate among at most this many most frequent words.")


#: Spark's master URLs (a local session's ``spark.master``); anything else makes the JVM exit at start with a Java
#: stack and no hint of which setting was wrong.
_MASTER = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[\d+,\d+,\d+\]|(spark|k8s|mesos)://\S+|yarn")
#: Spark conf keys that take a size, and Spark's way of writing one (no fraction: ``1.5g`` is refused by Spark).
_SIZE_KEY = re.compile(
    r"spark\.(driver|executor)\.(memory|memoryOverhead)|spark\.driver\.maxResultSize|.*\.offHeap\.size"
)
_SIZE = re.compile(r"\d+([kmgtp]b?|b)?", re.IGNORECASE)


class SparkConfig(_Section):
    master: str = Field(
        "local[*,4]", description="Used only when swapvec builds a local session: all cores, 4 attempts a task."
    )
    conf: dict[str, str] = Field(default_factory=dict, description="Extra Spark conf for a local session.")

    @field_validator("master")
    @classmethod
    def _a_master_url(cls, value: str) -> str:
        if not _MASTER.fullmatch(value.strip()):
            raise ValueError("not a Spark master URL (local, local[4], local[*,4], spark://HOST:7077, yarn)")
        return value.strip()

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @field_validator("conf")
    @classmethod
    def _sizes(cls, value: dict[str, str]) -> dict[str, str]:
        for key, setting in value.items():
            if _SIZE_KEY.fullmatch(key) and not _SIZE.fullmatch(setting.strip()):
                raise ValueError(f"{key}: {setting!r} is not a size as Spark writes one (512m, 4g)")
        return value


class LogConfig(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    progress: bool = Field(
        True, description="Show tasks done of total for long stages, on a terminal only (SWAPVEC_PROGRESS=0: never)."
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


class RunConfig(_Section):
    key: str | None = Field(
        None,
        description="The logical run, e.g. the schedule's date: a run whose key already succeeded writes nothing, "
        "and a retry of a failed one writes only what is missing. " + _KEY_RULE + ".",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _canonical(cls, value: Any) -> Any:
        return None if value is None else canonical_run_key(value)


class TrackingConfig(_Section):
    uri: str | None = Field(
        None, description="MLflow tracking URI; MLFLOW_TRACKING_URI when unset, or Databricks' own on Databricks."
    )
    experiment: str | None = Field(
        None,
        description="MLflow experiment name; MLFLOW_EXPERIMENT_NAME, else swapvec (/Shared/swapvec on Databricks).",
    )


class Config(_Section):
    input: InputConfig = Field(default_factory=InputConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    similarity: SimilarityConfig = Field(default_factory=SimilarityConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _affected_only_continues(self) -> Config:
        if self.augment.affected_only and not (self.train.init_from and self.augment.groups_path):
            raise ValueError(
                "augment.affected_only needs train.init_from (the model to continue) and augment.groups_path (the "
                "groups whose sentences it trains on)"
            )
        if "affected_epochs" in self.augment.model_fields_set and not self.augment.affected_only:
            raise ValueError("augment.affected_epochs applies to augment.affected_only runs only")
        return self

    def to_json(self) -> str:
        """The resolved config as JSON, with secret-looking values redacted (safe to log and to store in `runs`)."""
        return json.dumps(redact(self.model_dump(mode="json")), sort_keys=True)


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


def _did_you_mean(loc: tuple) -> str:
    """``; did you mean 'train.epochs'?`` for a misspelt key, from the keys that exist where it stands."""
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model else None
        annotation = field.annotation if field else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?" if close else ""


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    # A check across sections (a model validator) has no location; its message names the settings.
    where = "".join(f"{'.'.join(str(part) for part in first['loc'])}: " if first["loc"] else "")
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key" + _did_you_mean(first["loc"])
    elif "input" in first and not isinstance(first["input"], dict):
        message = f"{message} (got {first['input']!r})"
    more = len(error.errors()) - 1
    return f"config: {where}{message}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


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
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
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
