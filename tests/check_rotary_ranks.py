"""Every head's k@0.9 in the main job's report for a rotary model, recomputed outside attnspec: queries and keys
from the float64 PyTorch implementation of scripts/make_rotary_fixtures.py, the singular values of the field
s·Q·(K − mean key)ᵀ and of M = s·W_Qᵀ·W_K from numpy (LAPACK's QR of each factor, then the SVD of the small
product of their triangular factors, which has the same singular values), k@0.9 from their cumulative variance.

    check_rotary_ranks.py REPORT_JSON MODEL_NAME CHECKPOINT_DIR TEXT_DIR

A head whose reference cumulative variance lies within 1e-5 of 0.9 at the boundary is a near-tie that float
rounding may tip either way; it is counted and allowed, anything else must match exactly.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from make_rotary_fixtures import read_safetensors, reference_forward  # noqa: E402

report_path, model_name, checkpoint, text_dir = sys.argv[1:5]
TAU = 0.9


def product_singular_values(a, b):
    """Singular values of a·bᵀ for tall a and b."""
    return np.linalg.svd(np.linalg.qr(a, mode="r") @ np.linalg.qr(b, mode="r").T, compute_uv=False)


def rank_at(sigma):
    """k@τ, and how far the cumulative variance at the boundary is from τ."""
    x = sigma / sigma[0]
    cumulative = np.cumsum(x * x) / np.sum(x * x)
    k = int(np.argmax(cumulative >= TAU - 1e-12)) + 1
    margin = min(abs(cumulative[k - 1] - TAU), abs(cumulative[k - 2] - TAU) if k > 1 else 1.0)
    return k, margin


config = json.load(open(os.path.join(checkpoint, "config.json")))
weights = read_safetensors(os.path.join(checkpoint, "model.safetensors"))
nq, nkv = config["num_attention_heads"], config["num_key_value_heads"]
d = config.get("head_dim") or config["hidden_size"] // nq
scale = 1 / np.sqrt(d)
runs = [r for r in json.load(open(report_path))["runs"] if r["provenance"]["model"] == model_name]
assert runs, f"no run of {model_name} in {report_path}"
checked = near_ties = 0
cache, interaction_ranks = {}, {}
for run in runs:
    text, n = run["provenance"]["text"], int(run["provenance"]["tokens"])
    if (text, n) not in cache:
        tokens = list(open(os.path.join(text_dir, text + ".txt"), "rb").read()[:n])
        cache[(text, n)] = reference_forward(checkpoint, tokens)[0]
    layers = cache[(text, n)]
    suffix = "" if run["provenance"]["queries_keys"] == "RoPE" else "_before_rotation"
    for head in run["heads"]:
        layer, h = head["layer"], head["head"]
        g = h // (nq // nkv)
        q = layers[layer]["query" + suffix][:, h * d:(h + 1) * d].numpy()
        k = layers[layer]["key" + suffix][:, g * d:(g + 1) * d].numpy()
        if (layer, h) not in interaction_ranks:
            p = f"model.layers.{layer}.self_attn."
            wq = weights[p + "q_proj.weight"][h * d:(h + 1) * d].numpy()
            wk = weights[p + "k_proj.weight"][g * d:(g + 1) * d].numpy()
            interaction_ranks[(layer, h)] = rank_at(product_singular_values(scale * wq.T, wk.T))
        field = rank_at(product_singular_values(scale * q, k - k.mean(axis=0)))
        for name, (want, margin) in (("field", field), ("interaction", interaction_ranks[(layer, h)])):
            got = head[name]["rank_at_tau"]
            if got != want:
                assert margin < 1e-5, f"{text} n={n} {suffix or 'RoPE'} layer {layer} head {h} {name}: {got} != {want}"
                near_ties += 1
            checked += 1
print(f"{checked} ranks of {model_name} match numpy's SVD of the reference forward pass ({near_ties} near-ties)")
