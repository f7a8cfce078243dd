"""The documents a user reads say what the code does: the configuration reference is the config's own declarations."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _reference():
    spec = importlib.util.spec_from_file_location("reference", REPO / "docs" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_reference_is_generated_from_the_code():
    reference = _reference()
    assert reference.TARGET.read_text() == reference.render(), "run: python docs/reference.py"


def test_every_key_says_what_it_means():
    from swapvec.config import Config
    from swapvec.settings import keys

    assert [name for name, field, _ in keys(Config) if not field.metadata.get("doc")] == []


# ------------------------------------------------------------------------------------------------ the README's promises
def _readme_blocks(section: str, language: str) -> list[str]:
    """The ``language`` code blocks of the README's ``## section``, in order."""
    text = (REPO / "README.md").read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [part.split("\n", 1)[1] for part in text.split("```")[1::2] if part.startswith(language + "\n")]


def _user_env() -> dict[str, str]:
    from tests.cluster import spark_env
    from tests.jvm import short_jvm_opts

    return spark_env(SPARK_SUBMIT_OPTS=short_jvm_opts())


@pytest.mark.spark
@pytest.mark.slow
def test_the_readme_shows_what_make_run_prints(tmp_path):
    """The sample output in the README is what `make run` prints on a fresh clone: the same command, config and
    corpus (the Makefile's own line), its tables written elsewhere."""
    make_run = re.search(r"^run: setup\n\t\$\(BIN\)/(swapvec .*)$", (REPO / "Makefile").read_text(), re.M)
    command = [str(Path(sys.executable).parent / "swapvec"), *make_run.group(1).split()[1:]]
    command += ["--set", f"output.path={tmp_path / 'warehouse'}"]
    done = subprocess.run(command, cwd=REPO, env=_user_env(), capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout.split("swapvec: run done")[0].rstrip("\n")
    marker = "<!-- make run output -->\n```\n"
    sample = (REPO / "README.md").read_text().split(marker, 1)[1].split("\n```", 1)[0]
    assert printed == sample


@pytest.mark.spark
def test_the_seeds_example_runs_as_written_and_gensim_finds_the_hub(tmp_path):
    """The README's seed example, its shell lines run as they stand (the venv's swapvec) and its Python after them."""
    (shell,) = _readme_blocks("The seed's example", "bash")
    (python,) = _readme_blocks("The seed's example", "python")
    script = shell.replace(".venv/bin/", str(Path(sys.executable).parent) + "/")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=_user_env(), text=True,
                          capture_output=True, timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    expression, expected = python.rsplit("\n", 2)[-2].split("  # ")
    namespace: dict = {}
    exec(python.rsplit("\n", 2)[0], namespace)  # the import
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert repr(eval(expression, namespace)) == expected


@pytest.mark.spark
@pytest.mark.slow
def test_the_python_api_example_runs_as_written(spark, tmp_path, monkeypatch):
    """The README's Python example, with a notebook's ``spark``, its output path moved into the test's folder; each
    commented value is what the line gives."""
    (block,) = _readme_blocks("From Python", "python")
    monkeypatch.chdir(REPO)  # conf/local.yaml and its groups file, as the README's reader runs it
    namespace = {"spark": spark}
    for line in block.replace("/tmp/swapvec", str(tmp_path / "out")).splitlines():
        code, _, comment = line.partition("  # ")
        if not code.strip():
            continue
        if code.startswith(("import ", "result = ", "kv = ")):
            exec(code, namespace)
            continue
        value = eval(code, namespace)
        quoted = re.match(r"'[^']*'", comment)
        if quoted:
            assert repr(value) == quoted.group(0), line
    assert namespace["result"].status == "succeeded"
    assert namespace["result"].metrics["group_hub_first"] == 1.0
