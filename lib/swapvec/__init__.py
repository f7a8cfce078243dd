"""swapvec: word embeddings in which the words you name come out as each other's nearest neighbours.

The pipeline is tokenise -> swap-augment -> train -> similarities -> evaluate, one module a stage. The commands in
``pipeline`` chain them (``pipeline.run(spark, cfg)``, ``pipeline.execute(spark, cfg, command)``), and the console
script, the jobs and the notebooks all call them. README.md, "Architecture", maps the layers.
"""

from __future__ import annotations

__version__ = "0.1.0"
