"""Queries, keys and weights of every attention head of a PyTorch model, for attnspec.

Forward hooks on the attention's query/key projections capture their outputs during an ordinary forward pass,
so any model whose projections are modules works without changes to it:
  * GPT-2 style: one packed projection named ``c_attn`` (nn.Linear or Hugging Face's Conv1D) giving q | k | v;
  * Llama style: ``q_proj`` and ``k_proj`` (nn.Linear) in the same attention module, with grouped-query attention
    (fewer key heads than query heads) and rotary position embeddings applied here, after the projection, with
    the frequencies attnspec's C++ side uses for Llama, Llama-3 (scaled), Mistral and Qwen-2 (``rotary=``).

torch is imported by the caller's model, never by ``import attnspec``.

    layers = attnspec.hooks.attention_layers(model, heads=12)
    captured = attnspec.hooks.capture(model, tokens, layers)
    report = attnspec.analyse_model(captured.units(layers))
"""
import numpy as np

from . import _core
from ._errors import InvalidArgument

_HEAD_COUNT_NAMES = ("num_heads", "n_head", "num_attention_heads", "n_heads")
_KV_HEAD_COUNT_NAMES = ("num_key_value_heads", "n_kv_heads", "num_kv_heads")


def _error(message):
    return InvalidArgument("[attnspec.invalid_argument] " + message)


def _attribute(objects, names):
    for candidate in objects:
        for name in names:
            value = getattr(candidate, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


class AttentionLayer:
    """One layer's query/key projections: `query` and `key` are the modules (the same module, `packed`, for a
    GPT-2 c_attn), with `heads` query heads and `kv_heads` key heads of size `head_dim` over `model_dim` inputs."""

    def __init__(self, index, name, query, key, heads, kv_heads, model_dim, head_dim):
        self.index, self.name, self.query, self.key = index, name, query, key
        self.heads, self.kv_heads, self.model_dim, self.head_dim = heads, kv_heads, model_dim, head_dim

    @property
    def packed(self):
        return self.query is self.key

    def weights(self):
        """(W_Q [heads*d, D], W_K [kv_heads*d, D], b_Q or None, b_K or None) as float64 numpy arrays, in
        nn.Linear layout whatever the module stores."""
        def linear(module):
            weight = module.weight.detach().double().cpu().numpy()
            if not hasattr(module, "in_features"):  # Conv1D stores [in, out]
                weight = weight.T
            bias = getattr(module, "bias", None)
            return weight, None if bias is None else bias.detach().double().cpu().numpy()

        q_weight, q_bias = linear(self.query)
        k_weight, k_bias = linear(self.key)
        width_q, width_k = self.heads * self.head_dim, self.kv_heads * self.head_dim
        if self.packed:
            k_weight, k_bias = q_weight[width_q:width_q + width_k], None if q_bias is None else q_bias[width_q:width_q + width_k]
            q_weight, q_bias = q_weight[:width_q], None if q_bias is None else q_bias[:width_q]
        return q_weight, k_weight, q_bias, k_bias

    def __repr__(self):
        return (f"AttentionLayer({self.index}, {self.name!r}, heads={self.heads}, kv_heads={self.kv_heads}, "
                f"head_dim={self.head_dim}, model_dim={self.model_dim}, packed={self.packed})")


def _out_in(module):
    """(outputs, inputs) of a projection module, nn.Linear or Conv1D."""
    if hasattr(module, "in_features"):
        return module.out_features, module.in_features
    rows, cols = module.weight.shape  # Conv1D: [in, out]
    return cols, rows


def attention_layers(model, heads=None, kv_heads=None):
    """Every attention layer of `model`, in module order: modules named ``c_attn`` (packed q|k|v) or attention
    modules holding ``q_proj`` and ``k_proj``. Head counts come from `heads`/`kv_heads`, else from the attention
    module's or the model config's attributes (num_heads, n_head, num_attention_heads, num_key_value_heads)."""
    config = getattr(model, "config", None)
    modules = dict(model.named_modules())
    layers = []
    for name, module in modules.items():
        parent_name = name.rsplit(".", 1)[0] if "." in name else ""
        parent = modules.get(parent_name, model)
        if name.endswith("c_attn"):
            query = key = module
        elif name.endswith("q_proj") and hasattr(parent, "k_proj"):
            query, key = module, parent.k_proj
        else:
            continue
        n_heads = heads or _attribute((parent, module, config), _HEAD_COUNT_NAMES)
        if n_heads is None:
            raise _error(f"attention_layers: cannot tell how many heads '{name}' has; pass heads=")
        n_kv = kv_heads or _attribute((parent, config), _KV_HEAD_COUNT_NAMES) or n_heads
        out_q, model_dim = _out_in(query)
        if query is key:
            if out_q % 3 or (out_q // 3) % n_heads:
                raise _error(f"attention_layers: '{name}' gives {out_q} outputs, not q|k|v for {n_heads} heads")
            head_dim = out_q // 3 // n_heads
        else:
            if out_q % n_heads or _out_in(key)[0] != n_kv * (out_q // n_heads):
                raise _error(f"attention_layers: '{name}' ({out_q} outputs) and its k_proj ({_out_in(key)[0]}) do "
                             f"not make {n_heads} query heads over {n_kv} key heads")
            head_dim = out_q // n_heads
        if n_heads % n_kv:
            raise _error(f"attention_layers: {n_heads} query heads are not a multiple of {n_kv} key heads")
        layers.append(AttentionLayer(len(layers), name, query, key, n_heads, n_kv, model_dim, head_dim))
    if not layers:
        raise _error("attention_layers: found no module named c_attn and no attention module with q_proj and k_proj")
    return layers


def rotary_frequencies(head_dim, theta=10000.0, scaling=None):
    """The rotation frequency of each pair (i, i + d/2), radians per position: theta^(-2i/d), with Llama-3's
    scaling when `scaling` (config.json's rope_scaling dict) says rope_type "llama3"."""
    return _core._rotary_frequencies(head_dim, theta, scaling)


def rotate(x, positions, frequencies):
    """Rotary embedding in the rotate-half convention (pairs i and i + d/2) of x [seq, heads, d] at `positions`."""
    angles = np.asarray(positions, dtype=np.float64)[:, None] * np.asarray(frequencies)[None, :]
    cos, sin = np.cos(angles)[:, None, :], np.sin(angles)[:, None, :]
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


class Capture:
    """Per layer, the captured queries [seq, heads, d] and keys [seq, kv_heads, d] (float64) of one sequence,
    before rotation; rotated ones too when frequencies were given."""

    def __init__(self, layers, queries, keys, frequencies, positions):
        self.layers, self.frequencies, self.positions = layers, frequencies, positions
        self.queries_before_rotation, self.keys_before_rotation = queries, keys
        if frequencies is None:
            self.queries, self.keys = queries, keys
        else:
            self.queries = [rotate(q, positions, frequencies) for q in queries]
            self.keys = [rotate(k, positions, frequencies) for k in keys]

    def units(self, weights=True, before_rotation=False, grouping="per_query_head", logit_scale=True):
        """Every unit as analyse_model's dicts: each query head's queries against its key head's keys (or a KV
        group's stacked queries with grouping="per_kv_head"), with its weight slices when `weights` (scaled by
        1/sqrt(d) when `logit_scale`, so M is on the logits' scale)."""
        queries = self.queries_before_rotation if before_rotation else self.queries
        keys = self.keys_before_rotation if before_rotation else self.keys
        out = []
        for layer in self.layers:
            q_all, k_all = queries[layer.index], keys[layer.index]
            if weights:
                w_q, w_k, _, _ = layer.weights()
            d, group = layer.head_dim, layer.heads // layer.kv_heads
            for unit in _core.model_heads(1, layer.heads, layer.kv_heads, grouping):
                heads = range(unit.first_query_head, unit.first_query_head + unit.query_heads)
                entry = {"layer": layer.index, "first_query_head": unit.first_query_head,
                         "query_heads": unit.query_heads, "kv_head": unit.kv_head,
                         "queries": np.concatenate([q_all[:, h, :] for h in heads], axis=0),
                         "keys": k_all[:, unit.first_query_head // group, :]}
                if weights:
                    entry["query_weight"] = w_q[unit.first_query_head * d:(unit.first_query_head + unit.query_heads) * d]
                    entry["key_weight"] = w_k[unit.kv_head * d:(unit.kv_head + 1) * d]
                    entry["preparation"] = {"scale": d ** -0.5 if logit_scale else 1.0}
                out.append(entry)
        return out


def capture(model, tokens, layers=None, rotary=None, positions=None, sequence=0, forward=None):
    """Runs `model(tokens)` (or `forward()`) under torch.no_grad with hooks on every layer's projections and
    returns a Capture of batch element `sequence`. `rotary` is None (learned or no positions), a dict
    {"theta": ..., "scaling": {...}} as config.json gives them, or frequencies (length d/2); `positions` defaults
    to 0..seq-1."""
    import torch

    layers = layers if layers is not None else attention_layers(model)
    outputs = {}

    def hook_for(key):
        def hook(module, inputs, output):
            outputs[key] = output[sequence].detach().double().cpu().numpy()
        return hook

    modules = {}
    for layer in layers:
        modules[id(layer.query)] = layer.query
        modules[id(layer.key)] = layer.key
    handles = [module.register_forward_hook(hook_for(key)) for key, module in modules.items()]
    try:
        with torch.no_grad():
            forward() if forward is not None else model(tokens)
    finally:
        for handle in handles:
            handle.remove()

    queries, keys = [], []
    for layer in layers:
        if id(layer.query) not in outputs:
            raise _error(f"capture: the forward pass did not run layer {layer.index} ('{layer.name}')")
        q_out, k_out = outputs[id(layer.query)], outputs[id(layer.key)]
        width_q, width_k = layer.heads * layer.head_dim, layer.kv_heads * layer.head_dim
        if layer.packed:
            k_out = q_out[:, width_q:width_q + width_k]
            q_out = q_out[:, :width_q]
        seq = q_out.shape[0]
        queries.append(q_out.reshape(seq, layer.heads, layer.head_dim))
        keys.append(k_out.reshape(seq, layer.kv_heads, layer.head_dim))
    frequencies = None
    if rotary is not None:
        if isinstance(rotary, dict):
            frequencies = rotary_frequencies(layers[0].head_dim, rotary.get("theta", 10000.0), rotary.get("scaling"))
        else:
            frequencies = np.asarray(rotary, dtype=np.float64)
        if frequencies.shape != (layers[0].head_dim // 2,):
            raise _error(f"capture: rotary frequencies have shape {frequencies.shape}, the heads need "
                         f"({layers[0].head_dim // 2},)")
    seq = queries[0].shape[0]
    positions = np.arange(seq) if positions is None else np.asarray(positions)
    if positions.shape != (seq,):
        raise _error(f"capture: positions have shape {positions.shape}, the sequence has {seq} tokens")
    return Capture(layers, queries, keys, frequencies, positions)


def analyse(model, tokens, heads=None, kv_heads=None, rotary=None, before_rotation=False, weights=True,
            grouping="per_query_head", sequence=0, forward=None, **options):
    """Every head of a PyTorch model on one sequence of `tokens`, in one call: captures queries and keys with
    hooks (capture), slices the weights, and runs attnspec.analyse_model with `options` (tau, stability, threads,
    ...). Returns the Report."""
    from . import analyse_model

    layers = attention_layers(model, heads=heads, kv_heads=kv_heads)
    captured = capture(model, tokens, layers, rotary=rotary, sequence=sequence, forward=forward)
    return analyse_model(captured.units(weights=weights, before_rotation=before_rotation, grouping=grouping),
                         **options)
