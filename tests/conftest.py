"""One real local Spark session (with Delta) for the whole suite; tests never stop it."""

from __future__ import annotations

import os

import pytest

from swapvec.config import Config, SparkConfig, load_config
from swapvec.log import setup_logging
from tests.cluster import SHORT_JVM_OPTS

SEED_LINES = [
    "entertainment films Movies cinema",
    "entertainment Movies",
    "entertainment films",
    "entertainment cinema",
]
SEED_GROUPS = "# the seed's example\nentertainment: movies films cinema\n"

# The suite starts dozens of short-lived driver JVMs (every `swapvec` it runs as a user would): the C1 compiler alone
# and the serial collector start them with less CPU on 2 cores (the seed's run from the console: 48.6 s -> 41.8 s).
# spark-submit reads this for the driver JVM; users' runs are untouched. The suite's own long-lived session is
# started without it (`spark`): MLlib's training there took 61 s instead of 6.5 with C1 alone.
SHORT_JVM = ("SPARK_SUBMIT_OPTS", SHORT_JVM_OPTS)
os.environ.setdefault(*SHORT_JVM)


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
    opts = os.environ.pop(SHORT_JVM[0], None)
    try:
        return get_spark(cfg, app_name="swapvec-tests")
    finally:
        if opts is not None:
            os.environ[SHORT_JVM[0]] = opts


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
