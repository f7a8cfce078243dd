"""Input and output on an object store, as production tables live: ``swapvec run`` reading and writing ``s3a://``
through Hadoop's S3A connector against a real S3 API server on loopback, in both formats.

The local session adds hadoop-aws of its Spark's own Hadoop when a path is ``s3a://`` (``session.connector_packages``);
credentials come from the environment, as on a cluster. The tables are read back by independent readers, delta-rs and
pyarrow's S3 file system, the Parquet tables through the pointer object that replaces a link on an object store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.cluster import spark_env
from tests.conftest import SEED_GROUPS, SEED_LINES
from tests.objectstore import s3_server

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def _run(s3, cwd: Path, settings: list[str], command: tuple[str, ...] = ("run",)) -> subprocess.CompletedProcess:
    command = [str(BIN / "swapvec"), *command, *[a for s in [*settings, *s3.spark_settings()] for a in ("--set", s)]]
    return subprocess.run(
        command, cwd=cwd, env=spark_env(**s3.env()), capture_output=True, text=True, timeout=900, check=False
    )


def _read(s3, prefix: str, table: str, fmt: str) -> pa.Table:
    """A table as an independent reader sees it: delta-rs for Delta; for Parquet, the version the pointer names."""
    if fmt == "delta":
        from deltalake import DeltaTable

        return DeltaTable(s3.uri(f"{prefix}/{table}", "s3"), storage_options=s3.delta_options()).to_pyarrow_table()
    version = json.loads(s3.read_text(f"{prefix}/_versions/{table}/CURRENT"))["version"]
    return pq.read_table(f"{s3.bucket}/{prefix}/_versions/{table}/{version}", filesystem=s3.arrow_fs())


def _nearest(similarities: pa.Table) -> dict[str, str]:
    first = similarities.filter(pc.equal(similarities["rank"], 1))
    return dict(zip(first["word"].to_pylist(), first["neighbor"].to_pylist(), strict=True))


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_the_seed_case_from_and_to_s3(s3, tmp_path, fmt):
    (tmp_path / "corpus.txt").write_text("\n".join(SEED_LINES * 50) + "\n")
    (tmp_path / "groups.txt").write_text(SEED_GROUPS)
    corpus = s3.put(f"in-{fmt}/corpus.txt", tmp_path / "corpus.txt")
    out = f"seed-{fmt}"
    settings = [f"input.path={corpus}", "augment.groups_path=groups.txt", "train.min_count=1"]
    settings += [f"output.path={s3.uri(out)}", f"output.format={fmt}", "run.key=2026-01-02"]
    done = _run(s3, tmp_path, settings)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    nearest = _nearest(_read(s3, out, "similarities", fmt))
    assert {m: nearest[m] for m in ("movies", "films", "cinema")} == dict.fromkeys(
        ("movies", "films", "cinema"), "entertainment"
    )
    vectors = _read(s3, out, "vectors", fmt)
    assert vectors.num_rows == 4 and pa.types.is_float32(vectors.schema.field("vector").type.value_type)
    assert _read(s3, out, "runs", fmt).column("status").to_pylist() == ["succeeded"]
    assert not [k for k in s3.keys(out) if k.endswith("_swapvec.lock")]  # the Parquet writer's lock, released

    if fmt == "parquet":
        # A backfill of an older date keeps the newer date's tables: on a store, by the pointer objects swapvec
        # writes (Delta's own idempotent writes keep them by its log, as on a local disk: tests/test_runkey.py).
        before = {t: s3.keys(f"{out}/_versions/{t}") for t in ("vectors", "similarities")}
        older = _run(s3, tmp_path, [*settings[:-1], "run.key=2026-01-01"])
        assert older.returncode == 0, older.stderr[-3000:]
        assert "kept" in older.stdout
        assert {t: s3.keys(f"{out}/_versions/{t}") for t in before} == before
        assert not s3.keys(f"{out}/vectors")  # no links on an object store: the table's own prefix stays empty
        pointers = {t: s3.read_text(f"{out}/_versions/{t}/CURRENT") for t in ("vectors", "similarities")}
        assert all(json.loads(p)["version"] for p in pointers.values())

    # The vectors leave the store as the file gensim loads; the format is found from the tables there.
    export = ("export", "--to", "movies.bin", "--format", "word2vec")
    exported = _run(s3, tmp_path, [f"output.path={s3.uri(out)}"], export)
    assert exported.returncode == 0, exported.stderr[-3000:]
    from gensim.models import KeyedVectors

    wv = KeyedVectors.load_word2vec_format(str(tmp_path / "movies.bin"), binary=True)
    assert wv.most_similar("movies")[0][0] == "entertainment"


def test_the_lee_sample_from_and_to_s3_into_delta(s3, tmp_path):
    """Real text read from the store and trained into Delta there. Parquet's own way onto a store (version folders
    and the pointer object) is checked by the seed's case, which writes the same tables."""
    from gensim.test.utils import datapath

    fmt = "delta"
    corpus = s3.put(f"lee-{fmt}/lee_background.cor", Path(datapath("lee_background.cor")))
    out = f"lee-out-{fmt}"
    settings = [f"input.path={corpus}", f"augment.groups_path={REPO / 'conf' / 'groups.txt'}"]
    settings += [f"output.path={s3.uri(out)}", f"output.format={fmt}"]
    done = _run(s3, tmp_path, settings)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in ("members with all group-mates in top 10", "hub members whose nearest word is the hub"):
        assert any(row.startswith(line) and row.endswith("1.000") for row in done.stdout.splitlines()), done.stdout
    vectors = _read(s3, out, "vectors", fmt)
    assert vectors.num_rows > 1000
    assert _nearest(_read(s3, out, "similarities", fmt))["troops"] == "military"
