"""One real local Spark session (with Delta) for the whole suite; tests never stop it."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from swapvec.config import Config, SparkConfig, load_config
from swapvec.log import setup_logging
from tests.jvm import archive_opts, ensure_archive, short_jvm_opts

SEED_LINES = [
    "entertainment films Movies cinema",
    "entertainment Movies",
    "entertainment films",
    "entertainment cinema",
]
SEED_GROUPS = "# the seed's example\nentertainment: movies films cinema\n"

REPO = Path(__file__).resolve().parents[1]


def read_independently(path: str | Path, fmt: str) -> pa.Table:
    """A table read without Spark: delta-rs for Delta, pyarrow for Parquet."""
    return DeltaTable(str(path)).to_pyarrow_table() if fmt == "delta" else pq.read_table(path)


def pytest_configure(config):
    """Before any JVM: the class-data archive (made once, by the controller when tests run in workers), then the
    options every short-lived driver the suite runs as ``swapvec`` starts with (spark-submit reads
    ``SPARK_SUBMIT_OPTS``; users' runs are untouched)."""
    if _no_spark(config):
        return
    if not hasattr(config, "workerinput"):
        ensure_archive(REPO)
    os.environ.setdefault("SPARK_SUBMIT_OPTS", short_jvm_opts())


def _no_spark(config) -> bool:
    """True when the tests selected start no Spark (``make test-fast``: ``-m "not spark"``)."""
    return "not spark" in (config.getoption("markexpr", "") or "")


#: Modules whose tests start Spark in processes of their own (``swapvec`` as a user runs it, a cluster, a Connect
#: server), not through the ``spark`` fixture; with the marker that names what they start.
_STARTS_SPARK = {
    "test_cluster": "cluster",
    "test_cluster_cores": "cluster",
    "test_connect": "connect",
    "test_objectstore": None,
}


def pytest_collection_modifyitems(config, items):
    """Markers from what a test uses: ``spark`` for every test that starts Spark (the ``spark`` fixture, directly or
    through another fixture, or a process of its own), ``cluster`` and ``connect`` for the modules that start those."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in _STARTS_SPARK:
            item.add_marker(pytest.mark.spark)
            if _STARTS_SPARK[module]:
                item.add_marker(getattr(pytest.mark, _STARTS_SPARK[module]))
        if "spark" in item.fixturenames:
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from swapvec.session import get_spark

    setup_logging("text", "WARNING")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    cfg = SparkConfig(
        # Two cores, and a task tried up to 3 times, as the product's own local[*,4] retries failed tasks (and as
        # test_faults needs to inject failures).
        master="local[2,3]",
        conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.memory": "2g",
        },
    )
    # Long-lived: the archive, but C2 and the default collector (MLlib's training took 61 s instead of 6.5 with C1).
    opts, os.environ["SPARK_SUBMIT_OPTS"] = os.environ.get("SPARK_SUBMIT_OPTS"), archive_opts()
    try:
        return get_spark(cfg, app_name="swapvec-tests")
    finally:
        if opts is None:
            del os.environ["SPARK_SUBMIT_OPTS"]
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = opts


@pytest.fixture
def seed_case(tmp_path):
    """The seed's corpus (four lines, 50 times) and hub group, as files; returns a config factory."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SEED_LINES * 50) + "\n", encoding="utf-8")
    groups = tmp_path / "groups.txt"
    groups.write_text(SEED_GROUPS, encoding="utf-8")

    def make(*overrides: str) -> Config:
        return load_config(
            None,
            [
                f"input.path={corpus}",
                f"augment.groups_path={groups}",
                f"output.path={tmp_path / 'out'}",
                "train.min_count=1",
                *overrides,
            ],
        )

    return make
