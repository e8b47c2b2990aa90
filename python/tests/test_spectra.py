"""The field, M, their statistics and the stability calculator against numpy's dense SVD and direct formulas, in
float64 and float32, on random, low-rank, graded and offset heads."""
import numpy as np
import pytest

import attnspec


def field_oracle(Q, K, scale=None, center=True, drop=0):
    Q, K = np.asarray(Q, np.float64), np.asarray(K, np.float64)[drop:]
    if center:
        K = K - K.mean(axis=0)
    s = 1 / np.sqrt(Q.shape[1]) if scale is None else scale
    return s * Q @ K.T


def svdvals(matrix, count):
    return np.linalg.svd(matrix, compute_uv=False)[:count]


def heads(rng):
    n, m, d = 96, 80, 32
    yield "random", rng.standard_normal((n, d)), rng.standard_normal((m, d))
    low = rng.standard_normal((n, 3)) @ rng.standard_normal((3, d))
    yield "rank 3", low, rng.standard_normal((m, d))
    grade = np.diag(10.0 ** -np.linspace(0, 8, d))
    yield "graded", rng.standard_normal((n, d)) @ grade, rng.standard_normal((m, d))
    yield "offset keys", rng.standard_normal((n, d)), 1e4 + rng.standard_normal((m, d))


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-11), ("float32", 2e-5)])
def test_field_matches_dense_svd(rng, dtype, tolerance):
    for name, Q, K in heads(rng):
        field = attnspec.LogitEnergyField(Q, K, dtype=dtype)
        # The bound is on the data as the analysis holds it: rounded to `dtype` first.
        Q, K = (x.astype(dtype).astype(np.float64) for x in (Q, K))
        expected = svdvals(field_oracle(Q, K), Q.shape[1])
        assert field.singular_values.dtype == np.dtype(dtype)
        assert np.abs(field.singular_values - expected).max() <= tolerance * expected[0], name


def test_routes_name_one_pass_where_certified_and_keep_every_value_relatively(rng):
    # Well-conditioned double factors take one Cholesky QR pass; every value then agrees with numpy to 1e-12
    # relative. Queries with a large common offset are ill-conditioned (they are not centred) and take two.
    Q, K = rng.standard_normal((400, 32)), rng.standard_normal((300, 32))
    field = attnspec.LogitEnergyField(Q, K)
    assert (field.query_route, field.key_route) == ("cholesky_qr", "cholesky_qr")
    expected = svdvals(field_oracle(Q, K), 32)
    assert np.all(np.abs(field.singular_values - expected) <= 1e-12 * expected)
    offset = attnspec.LogitEnergyField(Q + 30.0, K)
    assert (offset.query_route, offset.key_route) == ("cholesky_qr2", "cholesky_qr")
    assert attnspec.LogitEnergyField(Q, K, algorithm="gram").query_route == "gram"
    assert attnspec.LogitEnergyField(Q, K, compute_vectors=True).query_route == "householder"


def test_field_options_match_their_definitions(rng):
    Q, K = rng.standard_normal((50, 16)), rng.standard_normal((60, 16))
    for options in [dict(scale=0.3), dict(center_rows=False), dict(drop_leading_keys=5), dict(algorithm="gram")]:
        field = attnspec.LogitEnergyField(Q, K, **options)
        expected = svdvals(field_oracle(Q, K, options.get("scale"), options.get("center_rows", True),
                                        options.get("drop_leading_keys", 0)), 16)
        assert np.allclose(field.singular_values, expected, rtol=0, atol=1e-9 * expected[0]), options


def test_field_vectors_rebuild_the_field(rng):
    Q, K = rng.standard_normal((40, 8)), rng.standard_normal((30, 8))
    field = attnspec.LogitEnergyField(Q, K, compute_vectors=True)
    E = field_oracle(Q, K)
    U, s, V = field.left_singular_vectors, field.singular_values, field.right_singular_vectors
    assert np.allclose(U @ np.diag(s) @ V.T, E, atol=1e-12 * s[0])
    assert np.allclose(field.dense(), E, atol=1e-12 * s[0])
    rows = field.rank_k_rows(3, 5, 10)
    U3, s3, V3 = np.linalg.svd(E)
    assert np.allclose(rows, (U3[:, :3] * s3[:3] @ V3[:3])[5:15], atol=1e-10 * s[0])


def test_interaction_matrix_matches_dense_svd_with_preparation(rng):
    d, D = 16, 48
    Wq, Wk = rng.standard_normal((d, D)), rng.standard_normal((d, D))
    gain, beta, bq, bk = rng.uniform(0.5, 2, D), rng.standard_normal(D), rng.standard_normal(d), rng.standard_normal(d)
    M = attnspec.InteractionMatrix(Wq, Wk, scale=0.25, norm_gain=gain, norm_bias=beta, query_bias=bq, key_bias=bk)
    # The augmented map: x -> [gamma*x + beta; 1] folded, so M = s * A_q^T A_k with A = [W diag(gamma), W beta + b].
    Aq = np.hstack([Wq * gain, (Wq @ beta + bq)[:, None]])
    Ak = np.hstack([Wk * gain, (Wk @ beta + bk)[:, None]])
    expected = svdvals(0.25 * Aq.T @ Ak, d)
    assert M.input_dim == D + 1 and M.head_dim == d
    assert np.abs(M.singular_values - expected).max() <= 1e-11 * expected[0]
    plain = attnspec.InteractionMatrix(Wq, Wk, dtype=np.float32)
    expected = svdvals(Wq.T @ Wk, d)
    assert np.abs(plain.singular_values - expected).max() <= 2e-5 * expected[0]


def test_spectrum_stats_match_their_formulas(rng):
    sigma = np.sort(rng.uniform(0, 3, 20))[::-1]
    stats = attnspec.SpectrumStats(sigma[::-1])  # order does not matter
    p = sigma ** 2 / (sigma ** 2).sum()
    q = sigma / sigma.sum()
    assert stats.rank_at(0.9) == int(np.searchsorted(np.cumsum(p), 0.9 - 1e-12) + 1)
    assert np.isclose(stats.entropy_effective_rank, np.exp(-(q * np.log(q)).sum()))
    assert np.isclose(stats.participation_ratio, 1 / (p ** 2).sum())
    assert np.isclose(stats.stable_rank, (sigma ** 2).sum() / sigma[0] ** 2)
    assert np.allclose(stats.cumulative_variance, np.concatenate([[0], np.cumsum(p)]))
    assert len(stats) == 20
    exact = attnspec.SpectrumStats([3, 2, 1])
    assert exact.rank_at(9 / 14) == 1 and exact.rank_at(13 / 14) == 2  # ties land exactly
    gap = attnspec.spectrum_gap(stats, exact)
    assert np.isclose(gap.stable_rank, stats.stable_rank / exact.stable_rank)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("causal", [False, True])
def test_stability_measures_what_numpy_measures(rng, causal):
    n, d = 48, 8
    Q, K = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    bound = attnspec.SoftmaxStabilityBound(Q, K, causal=causal, threads=2)
    E = field_oracle(Q, K)
    U, s, Vt = np.linalg.svd(E)
    mask = np.tril(np.ones((n, n), bool)) if causal else np.ones((n, n), bool)
    for k in [0, 2, 5, d]:
        Ek = U[:, :k] * s[:k] @ Vt[:k]
        a, b = softmax(np.where(mask, E, -np.inf)), softmax(np.where(mask, Ek, -np.inf))
        tv = 0.5 * np.abs(a - b).sum(axis=1)
        at = bound.at_rank(k)
        assert at.k == k
        assert np.isclose(at.measured_max_tv, tv.max(), atol=1e-10)
        assert np.isclose(at.measured_mean_tv, tv.mean(), atol=1e-10)
        assert at.certified_max_tv >= at.measured_max_tv - 1e-12
    assert bound.min_rank(0.5) == min(r.k for r in bound.ranks if r.certified_max_tv <= 0.5)
    assert bound.min_rank(0.9, target="measured_max_tv") <= bound.min_rank(0.9)


def test_stability_certificate_alone_and_measured_at_chosen_ranks(rng):
    n, d = 40, 6
    Q, K = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    E = field_oracle(Q, K)
    U, s, Vt = np.linalg.svd(E)
    full = attnspec.SoftmaxStabilityBound(Q, K, causal=True)
    alone = attnspec.SoftmaxStabilityBound(Q, K, causal=True, measured_ranks=[])
    some = attnspec.SoftmaxStabilityBound(Q, K, causal=True, measured_ranks=[3])
    mask = np.tril(np.ones((n, n), bool))
    for k in range(d + 1):
        R = E - U[:, :k] * s[:k] @ Vt[:k]
        R = np.where(mask, R, np.nan)
        certificate = np.tanh((np.nanmax(R, axis=1) - np.nanmin(R, axis=1)) / 4)
        assert np.isclose(alone.at_rank(k).certified_max_tv, certificate.max(), atol=1e-10)
        assert alone.at_rank(k).certified_max_tv == full.at_rank(k).certified_max_tv
        assert np.isnan(alone.at_rank(k).measured_max_tv)
        assert np.isnan(some.at_rank(k).measured_max_tv) == (k != 3)
    assert np.isclose(some.at_rank(3).measured_max_tv, full.at_rank(3).measured_max_tv, atol=1e-13)
    with pytest.raises(attnspec.InvalidArgument, match="measured no rank"):
        alone.min_rank(0.5, target="measured_max_tv")
