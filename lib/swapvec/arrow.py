"""Vectors between Arrow and numpy: a ``list<float>`` column (Spark's ``array<float>``) and an ``n x dim`` matrix."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def to_matrix(column: pa.Array | pa.ChunkedArray, dim: int | None = None) -> np.ndarray:
    """A column of equal-length float lists as an ``n x dim`` float32 matrix (``dim`` read from the data when None).

    Examples
    --------
    >>> to_matrix(pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float32()))).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return flat.reshape(len(column), -1 if dim is None else dim)


def list_column(matrix: np.ndarray) -> pa.ListArray:
    """The rows of a matrix as a ``list<float>`` column.

    Examples
    --------
    >>> list_column(np.array([[1, 2], [3, 4]], np.float32)).to_pylist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    rows, dim = matrix.shape
    offsets = pa.array(np.arange(0, (rows + 1) * dim, dim, dtype=np.int32) if dim else np.zeros(rows + 1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(matrix, np.float32).reshape(-1)))
