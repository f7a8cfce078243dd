from __future__ import annotations

from types import SimpleNamespace

import pytest

from swapvec import command as command_module
from swapvec.command import Command


def _writes_failing(monkeypatch, *failing: str) -> tuple[Command, list[tuple[str, str]]]:
    """A command whose writes of ``failing`` tables raise, and the ``table.write_failed`` events it logs."""

    class Failing(Command):
        def write(self, df, table):
            if table in failing:
                raise RuntimeError(f"the {table} commit failed")

    c = Failing(spark=None, cfg=None, store=None, record=SimpleNamespace(details={}), resume=None)
    said: list[tuple[str, str]] = []

    def event(logger, name, **fields):
        if name == "table.write_failed":
            said.append((fields["table"], fields["error"]))

    monkeypatch.setattr(command_module, "event", event)
    return c, said


TABLES = {"vectors": None, "model": None, "similarities": None}


def test_of_several_failed_writes_the_first_is_raised_and_the_others_logged(monkeypatch):
    c, said = _writes_failing(monkeypatch, "model", "similarities")
    with pytest.raises(RuntimeError, match="the model commit failed"):  # the first in the tables' order
        c.write_all(TABLES)
    assert said == [("similarities", "the similarities commit failed")]


def test_a_block_that_fails_beside_failed_writes_raises_its_error_and_logs_each_write_once(monkeypatch):
    c, said = _writes_failing(monkeypatch, "model", "similarities")
    with pytest.raises(ValueError, match="the report"), c.writing(TABLES):
        raise ValueError("the report could not be drawn")
    assert sorted(table for table, _ in said) == ["model", "similarities"]
    # The block waited for the writes (``written``), whose error it raised: the other write is logged once.
    c, said = _writes_failing(monkeypatch, "model", "similarities")
    with pytest.raises(RuntimeError, match="the model commit failed"), c.writing(TABLES) as written:
        written()
    assert said == [("similarities", "the similarities commit failed")]
