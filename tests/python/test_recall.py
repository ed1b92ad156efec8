"""Recall of the batch search against brute-force ground truth (fixed seed, stated
tolerance): 20k vectors, dim 32, m=16, ef_construction=200, ef_search=128, recall@10 >= 0.95."""

import numpy as np

N, DIM, NQ, K = 20_000, 32, 200, 10


def clustered(rng, n, centers):
    labels = rng.integers(0, len(centers), n)
    return (centers[labels] + 0.35 * rng.standard_normal((n, centers.shape[1]))).astype(np.float32)


def brute_force_topk(data, queries, k):
    d2 = (
        (queries.astype(np.float64) ** 2).sum(1)[:, None]
        - 2.0 * queries.astype(np.float64) @ data.astype(np.float64).T
        + (data.astype(np.float64) ** 2).sum(1)[None, :]
    )
    idx = np.argpartition(d2, k, axis=1)[:, :k]
    order = np.take_along_axis(d2, idx, axis=1).argsort(axis=1)
    return np.take_along_axis(idx, order, axis=1)


def test_recall_at_10_through_batch_calls(open_db):
    rng = np.random.default_rng(20240601)
    centers = rng.standard_normal((64, DIM)) * 1.5
    data = clustered(rng, N, centers)
    queries = clustered(rng, NQ, centers)
    # Sparse, huge ids exercise the id map: id = 3 * row + 2**40.
    ids = np.arange(N, dtype=np.uint64) * 3 + 2**40

    db = open_db(DIM, m=16, m_max=32, ef_construction=200.0)
    db.insert_batch(ids, data)
    assert len(db) == N

    got, dists = db.search_knn_batch(queries, k=K, ef_search=128, threads=2)
    truth = ids[brute_force_topk(data, queries, K)].astype(np.int64)
    hits = sum(len(set(got[i]) & set(truth[i])) for i in range(NQ))
    recall = hits / (NQ * K)
    assert recall >= 0.95, f"recall@10 = {recall:.4f}"
    assert (np.diff(dists, axis=1) >= 0).all()
    # distances are Euclidean (not squared)
    row = ((got[0][0] - 2**40) // 3).astype(np.int64)
    np.testing.assert_allclose(dists[0, 0], np.linalg.norm(data[row] - queries[0]), rtol=1e-4)
