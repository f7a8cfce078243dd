from __future__ import annotations

import json

import pytest

from swapvec.config import DEFAULT_TOKEN_PATTERN, load_config
from swapvec.errors import BadInput
from swapvec.log import REDACTED
from swapvec.runs import run_key_version


def test_defaults_are_the_documented_ones():
    cfg = load_config(None)
    assert (cfg.train.vector_size, cfg.train.window, cfg.train.min_count, cfg.similarity.top_k) == (100, 5, 5, 10)
    assert cfg.train.backend == "gensim" and cfg.output.format == "delta" and cfg.tokenize.lowercase
    assert cfg.tokenize.pattern == DEFAULT_TOKEN_PATTERN
    assert cfg.train.threads == "auto" and load_config(None, ["train.threads=3"]).train.threads == 3


def test_file_then_overrides_in_order(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  window: 3\n  epochs: 2\noutput:\n  format: parquet\n")
    cfg = load_config(file, ["train.window=7", "similarity.words=[a, b]", "spark.conf.spark.sql.shuffle.partitions=4"])
    assert cfg.train.window == 7 and cfg.train.epochs == 2 and cfg.output.format == "parquet"
    assert cfg.similarity.words == ["a", "b"]
    assert cfg.spark.conf == {"spark.sql.shuffle.partitions": "4"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.windw=3"], "config: train.windw: unknown key; did you mean 'train.window'?"),
        (["trian.epochs=3"], "config: trian: unknown key; did you mean 'train'?"),
        (["nosuch.key=1"], "config: nosuch: unknown key"),
        (["train.window=0"], "config: train.window: Input should be greater than or equal to 1 (got 0)"),
        (["train.vector_size=-5"], "config: train.vector_size: Input should be greater than or equal to 1 (got -5)"),
        (["train.backend=tensorflow"], "config: train.backend: Input should be 'gensim' or 'mllib' (got 'tensorflow')"),
        (["output.format=csv"], "config: output.format: Input should be 'delta' or 'parquet' (got 'csv')"),
        (["train.threads=all"], "config: train.threads: Input should be a valid integer or 'auto' (got 'all')"),
        (["train.threads=0"], "config: train.threads: Input should be greater than or equal to 1 (got 0)"),
        (["train.hs=0", "train.negative=0"], "train.negative must be > 0 when train.hs is 0"),
        (["similarity.top_k=0"], "config: similarity.top_k"),
        (["train.window"], "expected dotted.key=value"),
        (["train..window=1"], "the key must be dotted words"),
        # across sections: the message names the settings, once
        (["augment.affected_epochs=2"], "config: augment.affected_epochs applies to augment.affected_only runs only"),
    ],
)
def test_bad_keys_and_values_are_refused_by_name(overrides, message):
    with pytest.raises(BadInput) as caught:
        load_config(None, overrides)
    assert message in str(caught.value) and "config: config:" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_files(tmp_path):
    with pytest.raises(BadInput, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(BadInput, match="not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(BadInput, match="must hold a mapping"):
        load_config(scalar)


def test_secrets_are_redacted_in_the_logged_config():
    cfg = load_config(
        None,
        [
            "spark.conf={fs.azure.account.key.acct: s3cr3t, spark.hadoop.fs.s3a.secret.key: k}",
            "input.path=s3://u:pw@h/x",
        ],
    )
    text = cfg.to_json()
    assert "s3cr3t" not in text and '"k"' not in text and "pw@" not in text
    assert "redacted" in text


def test_the_run_key_is_no_secret_in_config_nor_in_events():
    from swapvec.log import redact

    assert '"key": "2026-11-25"' in load_config(None, ["run.key=2026-11-25"]).to_json()
    redacted = redact({"run_key": "2026-11-25", "api_key": "k"})
    assert redacted["run_key"] == "2026-11-25" and redacted["api_key"] != "k"


HADOOP_AND_HIVE_SECRETS = [
    "spark.hadoop.fs.s3a.encryption.key",  # S3 SSE-C
    "spark.hadoop.fs.s3a.server-side-encryption.key",
    "spark.hadoop.fs.s3a.secret.key",
    "spark.hadoop.fs.s3a.access.key",
    "spark.hadoop.fs.obs.sk",  # Huawei OBS secret key
    "spark.hadoop.fs.obs.ak",
    "spark.hadoop.hive.metastore.client.auth.key",
    "spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
    "spark.hadoop.fs.azure.account.oauth2.client.secret",
    "spark.hadoop.fs.azure.sas.fixed.token",
    "spark.hadoop.fs.gs.auth.service.account.private.key",
    "spark.hadoop.fs.oss.accessKeySecret",
    "spark.ssl.keyPassword",
    "spark.authenticate.secret",
    "spark.hadoop.javax.jdo.option.ConnectionPassword",
]


@pytest.mark.parametrize("key", HADOOP_AND_HIVE_SECRETS)
def test_hadoop_and_hive_secret_keys_are_redacted_by_rule(key):
    text = load_config(None, [f"spark.conf={{{key}: SECRET-VALUE}}"]).to_json()
    assert "SECRET-VALUE" not in text and "redacted" in text


#: Values the rule must hide though no list of secret names holds their keys: connectors' own names, a header, Java
#: options, a catalog's JDBC URL.
UNLISTED_SECRETS = {
    "spark.es.net.http.auth.pass": "SECRET-1",
    "spark.redis.auth": "SECRET-2",
    "spark.es.net.http.header.Authorization": "Bearer SECRET-3",
    "spark.driver.extraJavaOptions": "-Dapp.db.password=SECRET-4 -XX:+UseG1GC",
    "spark.sql.catalog.pg.url": "jdbc:postgresql://db/x?user=u&password=SECRET-5",
    "spark.myconnector.session": "SECRET-6",
}


def test_spark_conf_values_are_shown_only_for_sparks_own_harmless_settings():
    harmless = {"spark.sql.shuffle.partitions": "7", "spark.driver.memory": "2g", "spark.master": "local[2]"}
    cfg = load_config(None, [f"spark.conf={json.dumps({**UNLISTED_SECRETS, **harmless})}"])
    text = cfg.to_json()
    assert "SECRET-" not in text
    conf = json.loads(text)["spark"]["conf"]
    assert {k: conf[k] for k in harmless} == harmless
    assert {k: conf[k] for k in UNLISTED_SECRETS} == dict.fromkeys(UNLISTED_SECRETS, REDACTED)


@pytest.mark.parametrize(
    "setting",
    [
        "tracking.uri=http://:SECRET-7@mlflow.example:5000",  # a token as a URI's password, with no user
        "tracking.uri=https://mlflow.example/api?token=SECRET-8&x=1",
        "input.path=jdbc:sqlserver://db;user=u;password=SECRET-9",
        "train.init_from=abfss://c@acct.dfs.core.windows.net/m?sv=2024&sig=SECRET-10",
    ],
)
def test_credentials_inside_any_string_are_masked(setting):
    text = load_config(None, [setting]).to_json()
    assert "SECRET-" not in text and "redacted" in text


def test_settings_that_only_look_like_secrets_are_logged():
    cfg = load_config(
        None, ["run.key=2026-11-28", "tokenize.lowercase=false", "spark.conf={spark.sql.shuffle.partitions: 7}"]
    )
    text = cfg.to_json()
    assert "2026-11-28" in text and '"lowercase": false' in text and '"7"' in text


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("run.key=2026-11-25", "2026-11-25"),
        ("run.key=2026-11-25T00:00:00+00:00", "2026-11-25"),
        ("run.key=2026-11-25T06:00:00+02:00", "2026-11-25T04:00:00Z"),
        ("run.key='2026-11-25 06:30:00'", "2026-11-25T06:30:00Z"),
        ("run.key=42", "42"),
        ("run.key='0042'", "42"),
    ],
)
def test_run_keys_have_one_spelling_per_logical_run(given, canonical):
    assert load_config(None, [given]).run.key == canonical


def test_later_run_keys_have_larger_versions():
    keys = ["1970-01-01", "2026-11-25", "2026-11-25T00:00:00.000001Z", "2026-11-25T06:00:00Z", "2026-11-26"]
    versions = [run_key_version(k) for k in keys]
    assert versions == sorted(versions) and len(set(versions)) == len(keys)
    assert run_key_version("42") == 42 and run_key_version("2026-11-25T00:00:00Z") == run_key_version("2026-11-25")


@pytest.mark.parametrize("key", ["tomorrow", "2026-13-01", "1969-12-31", "-1", "true", "'a\\nb'", "x" * 65, "1.5"])
def test_run_keys_that_do_not_order_are_refused_in_one_line(key):
    with pytest.raises(BadInput) as caught:
        load_config(None, [f"run.key={key}"])
    assert str(caught.value).startswith("config: run.key: must be a date (2026-11-25)")
    assert "\n" not in str(caught.value)


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("train:\n  epochs: 3\n  window: [1, 2\nx: 1\n")
    with pytest.raises(BadInput, match=r"bad.yaml is not valid YAML at line 4, column 2: expected ',' or ']'"):
        load_config(file)


@pytest.mark.parametrize("setting", ["train.vector_size=true", "train.sg=true", "similarity.top_k=false"])
def test_a_boolean_is_not_taken_for_a_number(setting):
    with pytest.raises(BadInput, match="expected a number, got (true|false)"):
        load_config(None, [setting])


def test_an_empty_output_path_is_refused_rather_than_writing_into_the_current_folder():
    with pytest.raises(BadInput, match="output.path: String should have at least 1 character"):
        load_config(None, ["output.path="])
