"""The documents a user reads say what the code does: the configuration reference is the config's own declarations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
