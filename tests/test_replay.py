"""A continuation also trains some of the sentences its model was trained on (``train.replay_share``): the ``replay``
table, its exact merge, what a continuation draws from it, and the counts it leaves alone."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F

from swapvec import replay
from swapvec.config import OutputConfig, load_config
from swapvec.model import _sample
from swapvec.pipeline import execute
from swapvec.store import Store
from tests.conftest import SEED_LINES, read_independently


def _sentences(spark, first: int, n: int):
    rows = [(first + i, 0, [f"w{first + i}", "x"]) for i in range(n)]
    return spark.createDataFrame(rows, "sentence_id long, chunk int, tokens array<string>")


def _keys(df) -> list[int]:
    return sorted(r.key for r in df.collect())


def test_the_replay_sample_of_everything_is_the_sample_of_the_last_part_and_the_earlier_sample(spark):
    a, b = _sentences(spark, 0, 40), _sentences(spark, 100, 30)
    whole = replay.sample(a.unionByName(b), None, 10, seed=1)
    merged = replay.sample(b, replay.sample(a, None, 10, seed=1), 10, seed=1)
    assert len(_keys(whole)) == 10 and _keys(merged) == _keys(whole)
    assert len(_keys(replay.sample(a, None, 1000, seed=1))) == 40  # fewer sentences than kept: all of them
    assert _keys(replay.sample(a, None, 10, seed=2)) != _keys(replay.sample(a, None, 10, seed=1))

    drawn, wanted = replay.drawn(whole, 0.25, 20, seed=1)
    assert wanted == 5 and drawn.where(F.col(replay.REPLAYED) & (F.col("chunk") == 0)).count() == 5
    assert replay.drawn(whole, 0.25, 1, seed=1) == (None, 0)  # a quarter of one sentence: none
    assert sorted(replay.drawn(whole, 0.25, 20, seed=1)[0].collect()) == sorted(drawn.collect())
    assert sorted(replay.drawn(whole, 0.25, 24, seed=1)[0].collect()) != sorted(drawn.collect())  # another size
    assert replay.drawn(whole, 1.0, 40, seed=1)[0].count() == 10  # no more than the sample holds


def test_a_continuation_replays_a_share_of_its_models_sentences_and_counts_only_its_own(spark, tmp_path):
    first_corpus, second_corpus = tmp_path / "first.txt", tmp_path / "second.txt"
    first_corpus.write_text("\n".join(SEED_LINES * 50) + "\n")
    second_corpus.write_text("\n".join(["theatre entertainment stage"] * 40) + "\n")
    common = ["train.min_count=1", "train.epochs=1", "output.format=parquet"]
    execute(spark, load_config(None, [*common, f"input.path={first_corpus}", f"output.path={tmp_path / 'a'}"]))
    sample = read_independently(tmp_path / "a" / "replay", "parquet")
    assert sample.num_rows == 200 and set(sample.column_names) >= {"key", "tokens", "run_id"}

    small = [*common, "train.replay_keep=60", f"input.path={first_corpus}", f"output.path={tmp_path / 'a60'}"]
    execute(spark, load_config(None, small))
    assert read_independently(tmp_path / "a60" / "replay", "parquet").num_rows == 60

    # Continued on 40 new lines: 8 of the model's sentences trained again (0.2 x 40), their words not counted again.
    continued = [*common, f"input.path={second_corpus}", f"train.init_from={tmp_path / 'a60'}"]
    second = execute(spark, load_config(None, [*continued, f"output.path={tmp_path / 'b'}"]))
    assert second.row_counts["replayed_sentences"] == 8 and second.row_counts["sentences"] == 40
    before = {r["word"]: r for r in read_independently(tmp_path / "a60" / "model", "parquet").to_pylist()}
    after = {r["word"]: r for r in read_independently(tmp_path / "b" / "model", "parquet").to_pylist()}
    assert after["movies"]["count"] == before["movies"]["count"]
    assert after["entertainment"]["count"] == before["entertainment"]["count"] + 40 and after["theatre"]["count"] == 40
    # The new sample holds the earlier one's 60 and the 40 new lines (the default keeps 200,000).
    new_sample = read_independently(tmp_path / "b" / "replay", "parquet")
    assert new_sample.num_rows == 100
    assert sum(tokens == ["theatre", "entertainment", "stage"] for tokens in new_sample["tokens"].to_pylist()) == 40

    # The same seed and inputs: the same vectors, replayed sentences and all.
    again = execute(spark, load_config(None, [*continued, f"output.path={tmp_path / 'b2'}"]))
    assert again.row_counts["replayed_sentences"] == 8
    vectors = [
        {r["word"]: r["vector"] for r in read_independently(tmp_path / out / "vectors", "parquet").to_pylist()}
        for out in ("b", "b2")
    ]
    assert vectors[0].keys() == vectors[1].keys()
    assert all(np.array_equal(vectors[0][w], vectors[1][w]) for w in vectors[0])

    # A model whose run wrote no sample (train.replay_keep 0) beside an older run's: nothing replayed from that one.
    execute(spark, load_config(None, [*small[:-1], "train.replay_keep=0", f"output.path={tmp_path / 'a60'}"]))
    skipped = execute(spark, load_config(None, [*continued, f"output.path={tmp_path / 'c'}"]))
    assert "replayed_sentences" not in skipped.row_counts
    assert read_independently(tmp_path / "c" / "replay", "parquet").num_rows == 40  # its own lines alone


def test_a_daily_job_continuing_in_place_replays_yesterdays_sample_and_keeps_todays(spark, tmp_path):
    """The daily DAG's form: one Delta output.path that is also train.init_from. Each day reads the sample at the
    version its model's run wrote, while the day's run overwrites that table."""
    out = tmp_path / "out"
    daily = [f"output.path={out}", f"train.init_from={out}", "train.init_optional=true", "train.min_count=1"]
    days = [["entertainment films movies cinema"] * 30, ["theatre entertainment stage"] * 30, ["cheap food"] * 30]
    replayed = []
    for day, lines in enumerate(days):
        corpus = tmp_path / f"day{day}.txt"
        corpus.write_text("\n".join(lines) + "\n")
        record = execute(spark, load_config(None, [*daily, f"input.path={corpus}", "train.epochs=1"]))
        replayed.append(record.row_counts.get("replayed_sentences"))
        sample = read_independently(out / "replay", "delta")
        assert set(sample["run_id"].to_pylist()) == {record.run_id}
        assert sample.num_rows == 30 * (day + 1)  # every day's lines (fewer than train.replay_keep)
    assert replayed == [None, 6, 6]  # nothing to replay on the first day; then 0.2 x 30 lines


def test_the_train_command_replays_too_with_the_drawn_sentences_swapped_copies(spark, tmp_path):
    first, second, groups = tmp_path / "first.txt", tmp_path / "second.txt", tmp_path / "groups.txt"
    first.write_text("\n".join(SEED_LINES * 20) + "\n")
    second.write_text("\n".join(["theatre entertainment stage films"] * 30) + "\n")
    groups.write_text("films movies\n")
    common = ["train.min_count=1", "train.epochs=1", "output.format=parquet", f"augment.groups_path={groups}"]
    execute(spark, load_config(None, [*common, f"input.path={first}", f"output.path={tmp_path / 'a'}"]))
    staged = [*common, f"input.path={second}", f"output.path={tmp_path / 'b'}", f"train.init_from={tmp_path / 'a'}"]
    for command in ("tokenize", "augment"):
        execute(spark, load_config(None, staged), command)
    trained = execute(spark, load_config(None, staged), "train")
    # 6 of the first run's 80 lines (0.2 x 30), trained beside the 30 new lines and their copies.
    assert trained.row_counts["replayed_sentences"] == 6
    assert trained.metrics["train_words"] >= 30 * 4 * 2 + 6 * 2
    assert read_independently(tmp_path / "b" / "replay", "parquet").num_rows == 80 + 30


def test_a_sample_that_is_not_one_or_not_the_models_runs_is_not_replayed(spark, tmp_path):
    store = Store(OutputConfig(path=str(tmp_path), format="delta"), spark)
    rows = [("a1", 1, ["w", "x"]), ("a1", None, ["y", "z"])]
    good = spark.createDataFrame(rows, "run_id string, key long, tokens array<string>")
    good.write.format("delta").save(store.path("replay"))
    assert _sample(spark, store, None, "a1", None).count() == 1  # the row without a key left out
    assert _sample(spark, store, None, "b2", None) is None  # another run's
    bad = good.withColumn("key", F.col("key").cast("string"))
    bad.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(store.path("replay"))
    assert _sample(spark, store, None, "a1", None) is None
    assert _sample(spark, store, None, "a1", 0).count() == 1  # the version the model's run recorded: still there
    # A retry of one run key writes what the earlier attempt did not, and keeps the rest under that attempt's id.
    runs = spark.createDataFrame(
        [("a1", "2026-11-30"), ("a2", "2026-11-30"), ("b2", None)], "run_id string, run_key string"
    )
    assert _sample(spark, store, runs, "a2", 0).count() == 1
    assert _sample(spark, store, runs, "b2", 0) is None
