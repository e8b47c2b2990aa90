"""Trains the small Llama-style model the end-to-end demo analyses beside the GPT-2 one, and writes its
random-initialisation control.

A byte-level Llama (4 layers, d_model 256, 4 query heads sharing 2 KV heads of size 64, rotary position embeddings
with Llama-3's frequencies (rope_theta 500000, rope_scaling of type llama3 as in Llama-3.2), pre-norm RMSNorm,
SwiGLU MLP of width 512, tied embeddings, context 1024) trained with the GPT-2 model's recipe
(scripts/tiny_models.py) on the same training split of the three books, for 400 steps instead of 800
(a step takes about 9 s on the 2-core machine the shipped model was trained on).

Both checkpoints are written with Hugging Face Llama tensor names and layout (nn.Linear [out, in]: q_proj, k_proj,
v_proj, o_proj, gate_proj, up_proj, down_proj, input_layernorm, post_attention_layernorm) and a config.json with
model_type llama, in bfloat16 as real Llama checkpoints are, to models/tiny-llama-books/ and
models/tiny-llama-random/. The held-out loss in bits per byte goes to models/tiny-llama-books/training.json.

    /usr/bin/python3 scripts/train_tiny_llama.py [--steps 400] [--texts ../shared/data/texts]

Deterministic for a given torch build and thread count (seed 2604, 2 threads).
"""
import math

import torch

from tiny_models import VOCAB, train_and_write, write_checkpoint

LAYERS, D, HEADS, KV_HEADS, HEAD_DIM, MLP, CONTEXT = 4, 256, 4, 2, 64, 512, 1024
ROPE_THETA = 500000.0
ROPE_SCALING = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}
EPS = 1e-5


def rotary_frequencies():
    """Llama-3's inverse frequencies: theta^(-2i/d), with the long wavelengths divided by `factor` and those in
    between interpolated smoothly."""
    inv_freq = 1.0 / ROPE_THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM)
    s = ROPE_SCALING
    wavelength = 2 * math.pi / inv_freq
    low_wavelength = s["original_max_position_embeddings"] / s["low_freq_factor"]
    high_wavelength = s["original_max_position_embeddings"] / s["high_freq_factor"]
    smooth = (s["original_max_position_embeddings"] / wavelength - s["low_freq_factor"]) / (
        s["high_freq_factor"] - s["low_freq_factor"])
    scaled = torch.where(wavelength > low_wavelength, inv_freq / s["factor"], inv_freq)
    between = (wavelength >= high_wavelength) & (wavelength <= low_wavelength)
    return torch.where(between, (1 - smooth) * inv_freq / s["factor"] + smooth * inv_freq, scaled)


def rotate(x, cos, sin):
    """Rotary embedding, Hugging Face's rotate-half convention: pairs (i, i + d/2)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class RMSNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(D))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_layernorm = RMSNorm()
        self.q_proj = torch.nn.Linear(D, HEADS * HEAD_DIM, bias=False)
        self.k_proj = torch.nn.Linear(D, KV_HEADS * HEAD_DIM, bias=False)
        self.v_proj = torch.nn.Linear(D, KV_HEADS * HEAD_DIM, bias=False)
        self.o_proj = torch.nn.Linear(HEADS * HEAD_DIM, D, bias=False)
        self.post_attention_layernorm = RMSNorm()
        self.gate_proj = torch.nn.Linear(D, MLP, bias=False)
        self.up_proj = torch.nn.Linear(D, MLP, bias=False)
        self.down_proj = torch.nn.Linear(MLP, D, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(h).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(h).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        group = HEADS // KV_HEADS
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        logits = (q @ k.transpose(-1, -2) / math.sqrt(HEAD_DIM)).masked_fill(mask, float("-inf"))
        y = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, t, HEADS * HEAD_DIM)
        x = x + self.o_proj(y)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(torch.nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))


class TinyLlama(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(VOCAB, D)
        self.layers = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm()
        for name, p in self.named_parameters():  # Llama's initialisation: N(0, 0.02) for every matrix
            if p.dim() == 2:
                torch.nn.init.normal_(p, 0.0, 0.02)
        angles = torch.arange(CONTEXT, dtype=torch.float64)[:, None] * rotary_frequencies()[None, :]
        angles = torch.cat((angles, angles), dim=-1)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, tokens):
        t = tokens.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        x = self.embed_tokens(tokens)
        for block in self.layers:
            x = block(x, self.cos[:t], self.sin[:t], mask)
        return self.norm(x) @ self.embed_tokens.weight.T  # tied embeddings


def save_llama(model, directory, extra):
    """Hugging Face Llama names and layout (nn.Linear [out, in]); the output head is the tied embedding."""
    tensors = {"model.embed_tokens.weight": model.embed_tokens.weight, "model.norm.weight": model.norm.weight}
    for i, block in enumerate(model.layers):
        p = f"model.layers.{i}."
        for name in ("input_layernorm", "post_attention_layernorm"):
            tensors[p + name + ".weight"] = getattr(block, name).weight
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[p + "self_attn." + name + ".weight"] = getattr(block, name).weight
        for name in ("gate_proj", "up_proj", "down_proj"):
            tensors[p + "mlp." + name + ".weight"] = getattr(block, name).weight
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": VOCAB, "hidden_size": D,
              "intermediate_size": MLP, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM, "max_position_embeddings": CONTEXT,
              "rope_theta": ROPE_THETA, "rope_scaling": ROPE_SCALING, "rms_norm_eps": EPS, "hidden_act": "silu",
              "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": True, "torch_dtype": "bfloat16"}
    config.update(extra)
    write_checkpoint(directory, tensors, config, torch.bfloat16)


if __name__ == "__main__":
    train_and_write(TinyLlama, save_llama, torch.bfloat16, CONTEXT, ("tiny-llama-books", "tiny-llama-random"),
                    "train_tiny_llama.py", steps=400)
