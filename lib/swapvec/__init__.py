"""swapvec: word embeddings in which the words you name come out as each other's nearest neighbours.

The pipeline is tokenise -> swap-augment -> train -> similarities -> evaluate, one module a stage. The commands in
``pipeline`` chain them (``pipeline.execute(spark, cfg, command)``), and the console script, the jobs, the notebooks
and :func:`run` all call them. docs/architecture.md maps the layers.

The Python API:

* ``swapvec.run(spark, config, overrides)``: the whole pipeline, as ``swapvec run``; returns a
  :class:`~swapvec.api.RunResult` (the run's id, metrics, and tables as DataFrames).
* ``swapvec.load_keyedvectors(output_path, run_id=None)``: a run's vectors as gensim KeyedVectors.
* ``swapvec.BadInput``: what both raise for input that cannot work.

They are imported on first use, so that ``import swapvec`` starts nothing and needs no Spark.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["BadInput", "RunResult", "load_keyedvectors", "run"]

if TYPE_CHECKING:
    from swapvec.api import RunResult, run
    from swapvec.errors import BadInput
    from swapvec.export import load_keyedvectors

#: Public name -> the module that defines it.
_HOMES = {"run": "api", "RunResult": "api", "load_keyedvectors": "export", "BadInput": "errors"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'swapvec' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"swapvec.{_HOMES[name]}"), name)
