import numpy as np
import attnspec

# One head: its queries and keys on a text (n x d), and its weight slices (d x D, nn.Linear layout).
rng = np.random.default_rng(0)
Q = rng.standard_normal((1024, 8)) @ rng.standard_normal((8, 64))  # a head that uses 8 directions
K = rng.standard_normal((1024, 64))
field = attnspec.LogitEnergyField(Q, K)  # s * Q @ (K - mean key).T, never formed
M = attnspec.InteractionMatrix(rng.standard_normal((64, 256)), rng.standard_normal((64, 256)), scale=64 ** -0.5)
print("k@0.9 of the field:", field.stats().rank_at(0.9), "of", field.head_dim)
print("k@0.9 of M:", M.stats().rank_at(0.9), "of", M.head_dim)

# How much causal softmax attention changes when the field is cut to rank k.
bound = attnspec.SoftmaxStabilityBound(Q, K, causal=True, ranks=[4, 8])
for at in bound.ranks:
    print("rank %d: worst-row TV certified %.3g, measured %.3g" % (at.k, at.certified_max_tv, at.measured_max_tv))

# Every head of a checkpoint in one call: M's spectra per head and summarised.
report = attnspec.analyse_weights("models/tiny-gpt2-books")
print("layer 0, head 0: k@0.9 of M =", report.heads[0].interaction.rank_at_tau)
print(report.summary())
