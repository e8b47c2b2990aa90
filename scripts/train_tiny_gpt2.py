"""Trains the small GPT-2 the end-to-end demo analyses, and writes its random-initialisation control.

A byte-level GPT-2 (4 layers, d_model 192, 3 heads of 64, context 1024, tied embeddings, GELU (tanh), pre-norm
LayerNorm) trained on the training split of the three public-domain books in data/texts (see data/README.md):
each book without its Project Gutenberg header and footer, first 90% for training, last 10% held out.

Both checkpoints are written with Hugging Face GPT-2 tensor names and layout (Conv1D [in, out], packed c_attn
with biases) and a config.json, in float16 to stay under 8 MB, to models/tiny-gpt2-books/ and
models/tiny-gpt2-random/. The held-out loss in bits per byte goes to models/tiny-gpt2-books/training.json.

    /usr/bin/python3 scripts/train_tiny_gpt2.py [--steps 800] [--texts ../shared/data/texts]

Deterministic for a given torch build and thread count (seed 2604, 2 threads).
"""
import math

import torch

from tiny_models import VOCAB, train_and_write, write_checkpoint

LAYERS, D, HEADS, CONTEXT = 4, 192, 3, 1024


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_attn = torch.nn.Linear(D, 3 * D)
        self.attn_proj = torch.nn.Linear(D, D)
        self.ln_2 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_fc = torch.nn.Linear(D, 4 * D)
        self.mlp_proj = torch.nn.Linear(4 * D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in (q, k, v))
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(
            torch.nn.functional, "scaled_dot_product_attention") else causal_attention(q, k, v)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(b, t, D))
        return x + self.mlp_proj(torch.nn.functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


def causal_attention(q, k, v):
    t = q.shape[2]
    logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    logits = logits.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return logits.softmax(-1) @ v


class TinyGPT2(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(VOCAB, D)
        self.wpe = torch.nn.Embedding(CONTEXT, D)
        self.h = torch.nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = torch.nn.LayerNorm(D, eps=1e-5)
        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers).
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * LAYERS) if name.endswith("proj.weight") else 0.02
                torch.nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)

    def forward(self, tokens):
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T  # tied embeddings


def save_gpt2(model, directory, extra):
    """Hugging Face GPT-2 names and layout: Conv1D weights are stored [in, out], the transpose of nn.Linear."""
    tensors = {"wte.weight": model.wte.weight, "wpe.weight": model.wpe.weight,
               "ln_f.weight": model.ln_f.weight, "ln_f.bias": model.ln_f.bias}
    for i, block in enumerate(model.h):
        p = f"h.{i}."
        tensors.update({
            p + "ln_1.weight": block.ln_1.weight, p + "ln_1.bias": block.ln_1.bias,
            p + "attn.c_attn.weight": block.c_attn.weight.T, p + "attn.c_attn.bias": block.c_attn.bias,
            p + "attn.c_proj.weight": block.attn_proj.weight.T, p + "attn.c_proj.bias": block.attn_proj.bias,
            p + "ln_2.weight": block.ln_2.weight, p + "ln_2.bias": block.ln_2.bias,
            p + "mlp.c_fc.weight": block.c_fc.weight.T, p + "mlp.c_fc.bias": block.c_fc.bias,
            p + "mlp.c_proj.weight": block.mlp_proj.weight.T, p + "mlp.c_proj.bias": block.mlp_proj.bias,
        })
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": VOCAB, "n_embd": D,
              "n_head": HEADS, "n_layer": LAYERS, "n_positions": CONTEXT, "n_ctx": CONTEXT,
              "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "torch_dtype": "float16"}
    config.update(extra)
    write_checkpoint(directory, tensors, config, torch.float16)


if __name__ == "__main__":
    train_and_write(TinyGPT2, save_gpt2, torch.float16, CONTEXT, ("tiny-gpt2-books", "tiny-gpt2-random"),
                    "train_tiny_gpt2.py")
