"""Connected components of the match graph, on integer arrays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The smallest node index of each node's component (nodes ``0..n-1``).

    >>> components(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 2, 3, 3]
    >>> components(4, np.array([3, 2, 1]), np.array([2, 1, 0])).tolist()
    [0, 0, 0, 0]
    """
    labels = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return labels
    a, b = left.astype(np.int64), right.astype(np.int64)
    while True:
        low = np.minimum(labels[a], labels[b])
        before = labels.copy()
        for side in (a, b):
            np.minimum.at(labels, labels[side], low)  # hook the roots
            np.minimum.at(labels, side, low)
        while True:  # pointer jumping: follow labels to their roots
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def cluster_table(ids: pa.Array, left_ids: pa.Array, right_ids: pa.Array) -> pa.Table:
    """``record_id, cluster_id`` for every id; a cluster is named by its smallest member id.

    >>> t = cluster_table(pa.array(["b", "a", "c"]), pa.array(["a"]), pa.array(["b"]))
    >>> t.to_pylist()
    [{'record_id': 'a', 'cluster_id': 'a'}, {'record_id': 'b', 'cluster_id': 'a'}, \
{'record_id': 'c', 'cluster_id': 'c'}]
    """
    ordered = pc.sort_indices(ids)
    nodes = ids.take(ordered)
    a = np.asarray(pc.index_in(left_ids, value_set=nodes))
    b = np.asarray(pc.index_in(right_ids, value_set=nodes))
    labels = components(len(nodes), a, b)
    return pa.table({"record_id": nodes, "cluster_id": nodes.take(pa.array(labels))})
