"""The whole pipeline on local Spark, checked the way a user would: tables read back by independent readers."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from swapvec.pipeline import execute
from tests.conftest import read_independently

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_SCHEMAS = {
    "vectors": {"word": "string", "vector": "list<float>", "count": "int64", "run_id": "string"},
    "similarities": {
        "word": "string",
        "neighbor": "string",
        "rank": "int32",
        "similarity": "double",
        "mode": "string",
        "run_id": "string",
    },
}


def _types(table) -> dict[str, str]:
    return {f.name: str(f.type).replace("<item: ", "<").replace("<element: ", "<") for f in table.schema}


#: Each backend and each format once: what a backend gives does not depend on the format that stores it (the schema
#: checks below see both backends' vectors), and a format stores every backend's the same way.
@pytest.mark.parametrize(("backend", "fmt"), [("gensim", "delta"), ("mllib", "parquet")])
def test_seed_case_hub_is_every_members_nearest_word(spark, seed_case, backend, fmt):
    cfg = seed_case(f"train.backend={backend}", f"output.format={fmt}")
    result = execute(spark, cfg, "run")
    out = cfg.output.path
    sims = read_independently(f"{out}/similarities", fmt).to_pylist()
    nearest = {r["word"]: r["neighbor"] for r in sims if r["rank"] == 1}
    assert {w: nearest[w] for w in ("movies", "films", "cinema")} == dict.fromkeys(
        ("movies", "films", "cinema"), "entertainment"
    )
    for table, expected in EXPECTED_SCHEMAS.items():
        got = read_independently(f"{out}/{table}", fmt)
        assert {k: v for k, v in _types(got).items()} == expected, table
        assert set(got.column("run_id").to_pylist()) == {result.run_id}
        assert got.schema.field("run_id").nullable, f"{table}: run_id nullable in Delta, so in Parquet too"
    vectors = read_independently(f"{out}/vectors", fmt).to_pylist()
    assert sorted(r["word"] for r in vectors) == ["cinema", "entertainment", "films", "movies"]
    assert all(len(r["vector"]) == 100 for r in vectors)
    runs = read_independently(f"{out}/runs", fmt).to_pylist()
    [run] = [r for r in runs if r["run_id"] == result.run_id]
    metrics = dict(run["metrics"])
    assert run["status"] == "succeeded" and run["command"] == "run"
    assert metrics["group_share_top10"] == 1.0 and metrics["augmentation_factor"] > 1.0
    assert json.loads(run["config"])["train"]["backend"] == backend
    # The run's row names the versions it wrote: one run's complete set, whatever was written since.
    versions = json.loads(run["details"])["table_versions"]
    for table in ("vectors", "similarities"):
        if fmt == "delta":
            written = DeltaTable(f"{out}/{table}", version=versions[table]).to_pyarrow_table()
        else:
            written = pq.read_table(f"{out}/_versions/{table}/{versions[table]}")
        assert set(written.column("run_id").to_pylist()) == {result.run_id}
    assert dict(run["row_counts"])["sentences"] == 200
    # The guarantee step says what it did: on the seed's corpus training alone puts the hub first (gensim).
    [moves] = json.loads(run["details"])["guarantee"]
    assert moves["line"] == 2 and moves["met"] and metrics["guarantee_groups"] == 1.0
    if backend == "gensim":
        assert moves == {"line": 2, "kept_by_training": True, "moved": [], "least_cosine": 1.0, "met": True}
        assert "promises kept by training alone: 1 of 1 group; the guarantee moved no word" in result.summary
        assert "  line 2: entertainment: movies films cinema\n    kept by training alone: not moved\n" in result.summary


def test_stage_commands_meet_in_tables_and_similarity_recomputes_alone(spark, seed_case):
    # Parquet: the stage commands' tables are the same in both formats, and Delta's are the run key tests' business.
    cfg = seed_case("train.backend=mllib", "train.epochs=1", "output.format=parquet")
    records = [execute(spark, cfg, c) for c in ("tokenize", "augment", "train", "similarity", "evaluate")]
    ids = [r.run_id for r in records]
    out = cfg.output.path
    assert read_independently(f"{out}/sentences", "parquet").num_rows == 200
    augmented = read_independently(f"{out}/augmented", "parquet")
    assert augmented.num_rows > 200 and set(augmented.column("copy").to_pylist()) >= {0, 1}
    runs = read_independently(f"{out}/runs", "parquet").to_pylist()
    assert [r["command"] for r in sorted(runs, key=lambda r: r["started_at"])] == [
        "tokenize",
        "augment",
        "train",
        "similarity",
        "evaluate",
    ]
    assert {r["run_id"] for r in runs} == set(ids)
    sims = read_independently(f"{out}/similarities", "parquet")
    assert set(sims.column("run_id").to_pylist()) == {ids[3]}

    # `similarity` alone, with another top_k: recomputed from the vectors table, one new version.
    version = records[3].details["table_versions"]["similarities"]
    again = execute(spark, cfg.replaced(similarity=cfg.similarity.replaced(top_k=2)), "similarity")
    assert again.details["table_versions"]["similarities"] > version
    after = read_independently(f"{out}/similarities", "parquet")
    assert sorted(set(after.column("rank").to_pylist())) == [1, 2] and set(after.column("run_id").to_pylist()) == {
        again.run_id
    }


def test_the_sample_run_keeps_every_groups_promise_on_the_corpus_vocabulary(spark, tmp_path):
    """The embedded default (Lee's news text, conf/groups.txt), one epoch: on real text copying alone leaves the hub
    behind its members; the guarantee step must put it first for every member, and the vocabulary must be the
    corpus's own (the same words as a run without groups would have)."""
    from pyspark.sql import functions as F

    from swapvec.config import load_config
    from swapvec.store import read_corpus
    from swapvec.tokenize import tokenize
    from swapvec.train import vocabulary

    settings = [f"augment.groups_path={ROOT / 'conf' / 'groups.txt'}", f"output.path={tmp_path / 'out'}"]
    settings += ["output.format=parquet", "train.epochs=1", "similarity.top_k=5", "evaluate.baseline=false"]
    cfg = load_config(ROOT / "conf" / "local.yaml", settings)
    result = execute(spark, cfg, "run")
    ranks = {g["line"]: g["ranks"] for g in result.details["groups"]}
    hub_line = [g["line"] for g in result.details["groups"] if g["hub"]][0]
    assert {m: r["military"] for m, r in ranks[hub_line].items()} == dict.fromkeys(
        ("troops", "soldiers", "army", "forces"), 1
    )
    assert all(rank <= 10 for line, group in ranks.items() for r in group.values() for rank in r.values())
    assert result.metrics["guarantee_groups_met"] == result.metrics["guarantee_groups"] == 5.0
    # Copying alone leaves the hub behind its members: the summary says which groups were moved after training, and
    # how far, and the report's table says it too.
    moves = {e["line"]: e for e in result.details["guarantee"]}
    assert not moves[hub_line]["kept_by_training"] and moves[hub_line]["moved"]
    assert 0.0 < moves[hub_line]["least_cosine"] < 1.0
    kept = sum(e["kept_by_training"] for e in moves.values())
    assert result.metrics["guarantee_groups_kept_by_training"] == kept < 5
    lines = result.summary.splitlines()
    [headline] = [line for line in lines if line.startswith("promises kept by training alone: ")]
    assert headline.startswith(f"promises kept by training alone: {kept} of 5 groups; moved by the guarantee: ")
    least = min(e["least_cosine"] for e in moves.values())
    assert headline.endswith(f"least cosine {least:.3f}")
    [title] = [i for i, line in enumerate(lines) if line.startswith(f"  line {hub_line}: military: ")]
    assert lines[title + 1].startswith("    moved by the guarantee: troops, soldiers, army, forces (least cosine ")
    report = (Path(cfg.output.path) / "report" / "report.md").read_text()
    assert "## The guarantee step" in report
    assert f"| {hub_line} | military: troops soldiers army forces | no | troops, soldiers, army, forces |" in report
    vectors = pq.read_table(f"{cfg.output.path}/vectors")
    sentences = tokenize(read_corpus(spark, cfg.input), cfg.tokenize).withColumn("copy", F.lit(0))
    expected = {r.word: r["count"] for r in vocabulary(sentences, cfg.train.min_count).collect()}
    assert {r["word"]: r["count"] for r in vectors.to_pylist()} == expected
