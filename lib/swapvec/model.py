"""The ``model`` table, and continuing from it (``train.init_from``).

A gensim run writes ``model`` beside ``vectors``: each word's trained input weights (``vector``, before retrofitting,
specialisation or the guarantee move anything), its output weights (``output``), its ``count`` in the corpus and its
``train_count`` in what was trained on (swapped copies included). A later run that names that ``output.path`` in
``train.init_from`` starts from it: the words it knows start from their weights there, new words from the seeded
initialisation, the vocabulary is the union of both under ``train.min_count`` of the added counts, and training
runs its own epochs with the usual schedule (``train.alpha`` falling to ``train.min_alpha``), as gensim does when a
model is trained again, with a share of the sentences the model was trained on mixed in (:mod:`swapvec.replay`).

A model that cannot be continued is refused before any work, in one line: no model table there (unless
``train.init_optional``: a daily job's first run trains from scratch), another vector size, or another objective
(``sg``, ``hs``, ``negative`` read from the ``runs`` row of the run that wrote it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from swapvec.config import OutputConfig, TrainConfig
from swapvec.errors import BadInput, one_line
from swapvec.log import event, get_logger
from swapvec.replay import REPLAY
from swapvec.store import Store, delta

_log = get_logger("train")

MODEL = "model"
#: The settings a continuation must share with the model it starts from: they give the weights their meaning.
OBJECTIVE = ("sg", "hs", "negative")


def _store_of(spark: SparkSession, path: str) -> Store | None:
    """The store under ``path`` that holds a model table, Delta tried first; None when neither does."""
    for fmt in ("delta", "parquet"):
        store = Store(OutputConfig(path=path, format=fmt), spark)
        if store.exists(MODEL):
            return store
    return None


@dataclass(frozen=True)
class Prior:
    """The model a continuation starts from, and the sample of the sentences it was trained on (:mod:`replay`)."""

    #: ``word, vector, output, count, train_count``.
    model: DataFrame
    #: ``key, tokens``; None when the model's run wrote no replay table.
    sample: DataFrame | None


def read_prior(spark: SparkSession, t: TrainConfig) -> Prior | None:
    """``train.init_from``'s model table and replay sample, checked against the ``train`` settings ``t``; None when
    there is no model yet and ``train.init_optional`` allows it (logged as ``train.init_skipped``). The sample is the
    one the model's run wrote: at the version that run recorded in ``runs`` (Delta), or the table there now when it
    is that run's.

    Raises
    ------
    BadInput
        No model table there, a Delta version that does not exist, an empty table, another vector size or another
        objective than ``t``'s.
    """
    path = t.init_from
    store = _store_of(spark, path)
    if store is None and t.init_optional:
        event(_log, "train.init_skipped", init_from=path, reason="no model table yet: training from scratch")
        return None
    if store is None:
        raise BadInput(f"train.init_from: no model table under {path} (the output.path of an earlier gensim run)")
    if t.init_version is not None and store.format != "delta":
        raise BadInput(f"train.init_version needs a Delta model table; {path} holds Parquet")
    try:
        if store.format == "delta":
            # The version asked for, or the one there now, pinned: a run that writes its model where it read it (a
            # daily job's own output.path) would otherwise read its new model when the table is read again (the
            # baseline).
            version = delta.version(spark, store.path(MODEL)) if t.init_version is None else t.init_version
            table = _at_version(spark, store, MODEL, version)
        else:  # a Parquet table is read from its version folder, which the next write does not touch
            table = store.read(MODEL)
        first = table.select(F.size("vector").alias("dim"), "run_id").first()
    except PySparkException as exc:
        if t.init_version is None:
            raise
        raise BadInput(f"train.init_version {t.init_version}: {one_line(exc)}") from None
    if first is None:
        raise BadInput(f"train.init_from: the model table under {path} is empty")
    if first.dim != t.vector_size:
        raise BadInput(
            f"train.init_from: the model under {path} has {first.dim} dimensions; train.vector_size is {t.vector_size}"
        )
    runs = store.read("runs") if store.exists("runs") else None
    written = runs.where(F.col("run_id") == first.run_id).select("config", "details").first() if runs else None
    if written is not None:
        earlier = json.loads(written.config).get("train", {})
        for key in OBJECTIVE:
            if key in earlier and earlier[key] != getattr(t, key):
                raise BadInput(
                    f"train.init_from: the model under {path} was trained with train.{key}={earlier[key]}; this run "
                    f"has {getattr(t, key)}"
                )
    versions = json.loads(written.details or "{}").get("table_versions", {}) if written is not None else {}
    model = table.select("word", "vector", "output", "count", "train_count")
    return Prior(model, _sample(spark, store, runs, first.run_id, versions.get(REPLAY)))


def _at_version(spark: SparkSession, store: Store, table: str, version: int) -> DataFrame:
    """A Delta table of ``store`` as it was at ``version``."""
    return spark.read.format("delta").option("versionAsOf", version).load(store.path(table))


def _same_key(runs: DataFrame | None, run_ids: set[str]) -> bool:
    """Whether these runs are attempts of one run key (a retry writes what an earlier attempt did not, and keeps
    the rest with that attempt's run id)."""
    if runs is None or "run_key" not in runs.columns:
        return False
    keys = {r.run_key for r in runs.where(F.col("run_id").isin(list(run_ids))).select("run_key").collect()}
    return len(keys) == 1 and None not in keys


def _sample(
    spark: SparkSession, store: Store, runs: DataFrame | None, run_id: str, version: int | str | None
) -> DataFrame | None:
    """The ``replay`` table that the model's run wrote (``key, tokens``); None, logged, when there is none: that run
    wrote none (``train.replay_keep`` 0, or an older swapvec), a later run replaced it, its version is gone, or it
    is not a sample swapvec could have written."""
    why = None
    if not store.exists(REPLAY):
        why = "no replay table there"
    else:
        try:
            if store.format == "delta" and isinstance(version, int):
                table = _at_version(spark, store, REPLAY, version)
            else:
                table = store.read(REPLAY)
            types = dict(table.dtypes)
            first = table.select("run_id").first() if "run_id" in types else None
        except Exception as exc:  # noqa: BLE001 - Py4J's errors too (a vacuumed version's files): replay is optional
            why = f"the replay table's version {version} cannot be read: {one_line(exc)}"
        else:
            if types.get("key") != "bigint" or types.get("tokens") != "array<string>":
                why = "the replay table there is not a sample of sentences (key bigint, tokens array<string>)"
            elif first is None:
                why = "the replay table there is empty"
            elif first.run_id != run_id and not _same_key(runs, {first.run_id, run_id}):
                why = "the replay table there is not the model's run's"
    if why is not None:
        event(_log, "train.replay_skipped", init_from=store.path(REPLAY), reason=why)
        return None
    return table.select("key", "tokens").where(F.col("key").isNotNull())
