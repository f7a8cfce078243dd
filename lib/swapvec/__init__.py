"""swapvec: word embeddings in which the words you name come out as each other's nearest neighbours.

The pipeline is tokenise -> swap-augment -> train -> similarities -> evaluate, each a module here; ``pipeline.run``
chains them, and the console script, the jobs and the notebooks all call it.
"""

from __future__ import annotations

__version__ = "0.1.0"
