"""Writes the fixtures that guard the C++ forward pass (examples/decoder/decoder_forward.hpp) for the rotary
families: PyTorch's queries and keys (before and after the rotation) and logits, computed here in float64 by an
implementation written from the Hugging Face model definitions (rotate-half RoPE with Llama-3 frequency scaling,
grouped-query attention, RMSNorm, SwiGLU, biases, sliding windows, tied or separate output heads) straight from
the safetensors bytes, with no attnspec code.

Four cases, each a folder in tests/fixtures/rotary_forward/ with tokens.npy (int64), positions.npy (the positions
whose rows are kept), layers.<l>.{query,key}[_before_rotation].npy ([positions, heads*d], float32) and logits.npy:
- tiny-llama-books: the shipped trained model (bfloat16) on the first 1024 bytes of data/heldout/mobydick.txt,
  its full context, rows kept at a spread of positions up to 1023;
- llama-biased, qwen2, mistral: small random checkpoints written here (model/ holds config.json and
  model.safetensors) covering what the shipped model does not: attention and MLP biases with head_dim absent
  (null), Qwen-2's q/k/v biases with an untied output head, Mistral's sliding window with one KV head for four
  query heads and a head_dim that is not hidden_size / heads.

    /usr/bin/python3 scripts/make_rotary_fixtures.py [OUT_DIR]
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tiny_models import ROOT, write_checkpoint  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "rotary_forward")


def read_safetensors(path):
    """Every tensor as float64, decoded from the file's bytes (F32, F16, BF16)."""
    raw = open(path, "rb").read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        data = raw[8 + length + begin:8 + length + end]
        if entry["dtype"] == "BF16":  # the upper 16 bits of a float32
            bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
            values = bits.view(np.float32)
        else:
            values = np.frombuffer(data, dtype={"F16": "<f2", "F32": "<f4"}[entry["dtype"]])
        tensors[name] = torch.from_numpy(values.astype(np.float64).reshape(entry["shape"]))
    return tensors


def inverse_frequencies(config, d):
    """Hugging Face's rope_init_fn for the default and llama3 types, vectorised."""
    theta = config.get("rope_theta", 10000.0)
    inv = theta ** -(torch.arange(0, d, 2, dtype=torch.float64) / d)
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type", scaling.get("type", "default")) != "llama3":
        return inv
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    scaled = torch.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def reference_forward(directory, tokens):
    """The model's per-layer Q/K (before and after RoPE, [n, heads*d]) and logits [n, vocab], in float64."""
    config = json.load(open(os.path.join(directory, "config.json")))
    w = read_safetensors(os.path.join(directory, "model.safetensors"))
    D, nq = config["hidden_size"], config["num_attention_heads"]
    nkv = config.get("num_key_value_heads") or nq
    d = config.get("head_dim") or D // nq
    eps = config.get("rms_norm_eps", 1e-6)
    qwen = config["model_type"] == "qwen2"
    qkv_bias = qwen or config.get("attention_bias", False)
    o_bias = config.get("attention_bias", False) and not qwen
    mlp_bias = config.get("mlp_bias", False)
    window = config.get("sliding_window") if config["model_type"] == "mistral" else None
    n = len(tokens)

    def rms(x, name):
        return w[name] * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)

    def proj(x, name, bias):
        y = x @ w[name + ".weight"].T
        return y + w[name + ".bias"] if bias else y

    angles = torch.arange(n, dtype=torch.float64)[:, None] * inverse_frequencies(config, d)[None, :]
    cos, sin = torch.cat((angles, angles), -1).cos(), torch.cat((angles, angles), -1).sin()
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    hidden = (j > i) | ((i - j >= window) if window else torch.zeros(n, n, dtype=torch.bool))
    x = w["model.embed_tokens.weight"][torch.tensor(tokens)]
    layers = []
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, p + "input_layernorm.weight")
        q = proj(h, p + "self_attn.q_proj", qkv_bias).view(n, nq, d).transpose(0, 1)
        k = proj(h, p + "self_attn.k_proj", qkv_bias).view(n, nkv, d).transpose(0, 1)
        v = proj(h, p + "self_attn.v_proj", qkv_bias).view(n, nkv, d).transpose(0, 1)
        q_rot, k_rot = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        flat = lambda z: z.transpose(0, 1).reshape(n, -1)
        layers.append({"query": flat(q_rot), "key": flat(k_rot), "query_before_rotation": flat(q),
                       "key_before_rotation": flat(k)})
        group = nq // nkv
        k_all, v_all = k_rot.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
        scores = (q_rot @ k_all.transpose(1, 2) / math.sqrt(d)).masked_fill(hidden, float("-inf"))
        x = x + proj(flat(scores.softmax(-1) @ v_all), p + "self_attn.o_proj", o_bias)
        h = rms(x, p + "post_attention_layernorm.weight")
        gate = torch.nn.functional.silu(proj(h, p + "mlp.gate_proj", mlp_bias))
        x = x + proj(gate * proj(h, p + "mlp.up_proj", mlp_bias), p + "mlp.down_proj", mlp_bias)
    head = w["model.embed_tokens.weight"] if config.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return layers, rms(x, "model.norm.weight") @ head.T


def write_case(out, directory, tokens, positions):
    layers, logits = reference_forward(directory, tokens)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "tokens.npy"), np.array(tokens, dtype=np.int64))
    np.save(os.path.join(out, "positions.npy"), np.array(positions, dtype=np.int64))
    for layer, tensors in enumerate(layers):
        for name, value in tensors.items():
            np.save(os.path.join(out, f"layers.{layer}.{name}.npy"), value[positions].numpy().astype(np.float32))
    np.save(os.path.join(out, "logits.npy"), logits[positions].numpy().astype(np.float32))


def random_checkpoint(directory, config, seed):
    """A small checkpoint of `config` with random float32 weights under Hugging Face names."""
    g = torch.Generator().manual_seed(seed)
    D, nq, nkv = config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]
    d = config.get("head_dim") or D // nq
    mlp, vocab = config["intermediate_size"], config["vocab_size"]
    qwen = config["model_type"] == "qwen2"
    qkv_bias = qwen or config.get("attention_bias", False)
    normal = lambda *shape, std=0.3: torch.randn(*shape, generator=g, dtype=torch.float64) * std
    tensors = {"model.embed_tokens.weight": normal(vocab, D, std=1.0), "model.norm.weight": 1 + normal(D, std=0.1)}
    if not config["tie_word_embeddings"]:
        tensors["lm_head.weight"] = normal(vocab, D)
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes = {"self_attn.q_proj": (nq * d, D), "self_attn.k_proj": (nkv * d, D), "self_attn.v_proj": (nkv * d, D),
                  "self_attn.o_proj": (D, nq * d), "mlp.gate_proj": (mlp, D), "mlp.up_proj": (mlp, D),
                  "mlp.down_proj": (D, mlp)}
        for name, shape in shapes.items():
            tensors[p + name + ".weight"] = normal(*shape)
            attention = name.startswith("self_attn")
            biased = (qkv_bias and attention and name != "self_attn.o_proj") or (
                config.get("attention_bias", False) and not qwen and attention) or (
                config.get("mlp_bias", False) and not attention)
            if biased:
                tensors[p + name + ".bias"] = normal(shape[0])
        for name in ("input_layernorm", "post_attention_layernorm"):
            tensors[p + name + ".weight"] = 1 + normal(D, std=0.1)
    write_checkpoint(directory, {k: v.float() for k, v in tensors.items()}, config, torch.float32)


SMALL = {
    "llama-biased": {"model_type": "llama", "hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 2,
                     "head_dim": None, "intermediate_size": 48, "num_hidden_layers": 2, "vocab_size": 40,
                     "max_position_embeddings": 48, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                     "rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                     "attention_bias": True, "mlp_bias": True, "tie_word_embeddings": True, "hidden_act": "silu"},
    "qwen2": {"model_type": "qwen2", "hidden_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
              "intermediate_size": 64, "num_hidden_layers": 2, "vocab_size": 50, "max_position_embeddings": 64,
              "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None, "use_sliding_window": False,
              "sliding_window": 32, "tie_word_embeddings": False, "hidden_act": "silu"},
    "mistral": {"model_type": "mistral", "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 1,
                "head_dim": 16, "intermediate_size": 40, "num_hidden_layers": 2, "vocab_size": 30,
                "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 7,
                "tie_word_embeddings": False, "hidden_act": "silu"},
}


def main():
    text = open(os.path.join(ROOT, "data", "heldout", "mobydick.txt"), "rb").read()
    positions = sorted(set(range(4)) | {100, 255, 256, 511, 512, 767, 768} | set(range(1000, 1024)))
    write_case(os.path.join(OUT, "tiny-llama-books"), os.path.join(ROOT, "models", "tiny-llama-books"),
               list(text[:1024]), positions)
    for seed, (name, config) in enumerate(SMALL.items()):
        model = os.path.join(OUT, name, "model")
        random_checkpoint(model, config, seed)
        n = config["max_position_embeddings"] if name == "llama-biased" else 40
        tokens = torch.randint(0, config["vocab_size"], (n,), generator=torch.Generator().manual_seed(seed)).tolist()
        write_case(os.path.join(OUT, name), model, tokens, list(range(n)))
    print(f"rotary fixtures written to {OUT}")


if __name__ == "__main__":
    main()
