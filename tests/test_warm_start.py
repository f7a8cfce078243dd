"""Continuing from an earlier run's model (``train.init_from``): the model table, the union vocabulary, and the
continuations that cannot fit, refused before any work."""

from __future__ import annotations

import numpy as np
import pytest

from swapvec.config import load_config
from swapvec.errors import BadInput
from swapvec.pipeline import execute
from tests.conftest import SEED_LINES, read_independently


def _model(out) -> dict[str, dict]:
    return {r["word"]: r for r in read_independently(out / "model", "parquet").to_pylist()}


def test_a_run_continues_from_an_earlier_runs_model_and_one_that_cannot_is_refused(spark, tmp_path):
    first_corpus, second_corpus = tmp_path / "first.txt", tmp_path / "second.txt"
    first_corpus.write_text("\n".join(SEED_LINES * 50) + "\n")
    second_corpus.write_text("\n".join(SEED_LINES * 50 + ["theatre entertainment stage"] * 50) + "\n")
    common = ["train.backend=gensim", "train.min_count=1", "train.epochs=1", "output.format=parquet"]
    first = execute(spark, load_config(None, [*common, f"input.path={first_corpus}", f"output.path={tmp_path / 'a'}"]))
    before = _model(tmp_path / "a")
    assert set(before) == {"entertainment", "films", "movies", "cinema"} and {r["run_id"] for r in before.values()} == {
        first.run_id
    }
    assert all(len(r["vector"]) == len(r["output"]) == 100 for r in before.values())

    # Continued on a corpus that holds the first and a new line: a learning rate of almost 0, so that the known
    # words must come out where the first run left them, and the new words join.
    still = ["train.alpha=0.0000001", "train.min_alpha=0.0000001", f"train.init_from={tmp_path / 'a'}"]
    settings = [*common, *still, f"input.path={second_corpus}", f"output.path={tmp_path / 'b'}"]
    second = execute(spark, load_config(None, settings))
    after = _model(tmp_path / "b")
    assert set(after) == set(before) | {"theatre", "stage"} and second.metrics["train_init_words"] == 4
    assert after["movies"]["count"] == 2 * before["movies"]["count"]  # counts carried over and added
    for word, row in before.items():
        assert np.allclose(after[word]["vector"], row["vector"], atol=1e-4), word
        assert np.allclose(after[word]["output"], row["output"], atol=1e-4), word

    # Groups added to that model: only the sentences that hold a group word are trained (50 of 250 lines, and
    # their copies); the run without groups, the baseline, is the model it started from.
    (tmp_path / "groups.txt").write_text("theatre stage\n")
    added = [*common, f"input.path={second_corpus}", f"train.init_from={tmp_path / 'b'}", "augment.affected_only=true"]
    added += [f"augment.groups_path={tmp_path / 'groups.txt'}", "evaluate.baseline=true", "train.epochs=3"]
    added.append(f"output.path={tmp_path / 'g'}")
    grouped = execute(spark, load_config(None, added))
    # Each line as written and its two copies, one epoch (augment.affected_epochs), not train.epochs' 3.
    assert grouped.metrics["train_words"] == 50 * 3 * 3 and grouped.metrics["train_epochs"] == 1
    assert grouped.metrics["group_share_top10"] == 1.0 and "baseline_group_share_top10" in grouped.metrics
    assert _model(tmp_path / "g")["movies"]["count"] == after["movies"]["count"]  # the same corpus: not added again
    with pytest.raises(BadInput, match="augment.affected_only needs train.init_from"):
        load_config(None, ["augment.affected_only=true", f"augment.groups_path={tmp_path / 'groups.txt'}"])
    with pytest.raises(BadInput, match="augment.affected_epochs applies to augment.affected_only runs only"):
        load_config(None, ["augment.affected_epochs=2"])
    twice = execute(spark, load_config(None, [*added[:-1], "augment.affected_epochs=2", f"output.path={tmp_path}/h"]))
    assert twice.metrics["train_words"] == 2 * 50 * 3 * 3 and twice.metrics["train_epochs"] == 2

    # What cannot continue that model is refused before any work; nothing is written where it would go.
    for extra, message in [
        ("train.vector_size=50", "the model under .* has 100 dimensions; train.vector_size is 50"),
        ("train.sg=0", "the model under .* was trained with train.sg=1; this run has 0"),
    ]:
        with pytest.raises(BadInput, match=message):
            execute(spark, load_config(None, [*settings[:-1], f"output.path={tmp_path / 'c'}", extra]))
        assert not (tmp_path / "c" / "vectors").exists()
    nowhere = [*common, f"input.path={first_corpus}", f"train.init_from={tmp_path / 'nowhere'}"]
    with pytest.raises(BadInput, match="train.init_from: no model table under .*nowhere"):
        execute(spark, load_config(None, [*nowhere, f"output.path={tmp_path / 'd'}"]))
    # A daily job's first run: no model yet, and it may start from scratch.
    first_day = execute(
        spark, load_config(None, [*nowhere, "train.init_optional=true", f"output.path={tmp_path / 'd'}"])
    )
    assert first_day.status == "succeeded" and first_day.metrics["train_init_words"] == 0
    with pytest.raises(BadInput, match="config: train.init_from needs train.backend gensim"):
        load_config(None, [f"train.init_from={tmp_path / 'a'}", "train.backend=mllib"])
    with pytest.raises(BadInput, match="config: train.init_from needs train.hs 0"):
        load_config(None, [f"train.init_from={tmp_path / 'a'}", "train.hs=1", "train.negative=0"])


def test_a_daily_groups_job_on_its_first_day_trains_the_whole_corpus_and_its_baseline_is_the_model_it_started_from(
    spark, tmp_path
):
    """``train.init_optional`` with ``augment.affected_only`` and no model yet: the baseline crashed on the missing
    model, and without it the run made a model of the group words alone. On the next day, continuing from its own
    output.path (Delta), the baseline read the model again after the run had overwritten it: the new model."""
    corpus, groups = tmp_path / "corpus.txt", tmp_path / "groups.txt"
    corpus.write_text("\n".join([*SEED_LINES, "the picture was great fun", "cheap food is good"] * 50) + "\n")
    groups.write_text("entertainment: movies films cinema\n")
    out = tmp_path / "out"
    daily = [
        f"input.path={corpus}", f"augment.groups_path={groups}", f"output.path={out}", f"train.init_from={out}",
        "train.init_optional=true", "augment.affected_only=true", "evaluate.baseline=true", "train.min_count=1",
        "train.epochs=1",
    ]  # fmt: skip
    first = execute(spark, load_config(None, daily))
    assert first.status == "succeeded" and first.metrics["train_vocab_size"] == 13  # every word, not the group's
    model = {r["word"]: r["vector"] for r in read_independently(out / "model", "delta").to_pylist()}

    groups.write_text("entertainment: movies films cinema picture\n")
    execute(spark, load_config(None, daily))
    baseline = {r["word"]: r["vector"] for r in read_independently(out / "baseline_vectors", "delta").to_pylist()}
    assert set(baseline) == set(model) and all(np.allclose(baseline[w], model[w]) for w in model)

    # Groups whose words no sentence holds: nothing to train, said as such (was "the corpus ... has no tokens").
    groups.write_text("zebra: giraffe okapi\n")
    with pytest.raises(BadInput, match="no sentence of the corpus at .* holds a group word: augment.affected_only"):
        execute(spark, load_config(None, daily))
