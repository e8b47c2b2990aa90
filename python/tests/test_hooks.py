"""attnspec.hooks against independent references: the queries and keys it captures from the shipped models'
PyTorch definitions equal the committed forward-pass fixtures (computed in float64 from the Hugging Face model
definitions, before and after the rotation), and the weights it slices give the M spectra the checkpoint reader
gives."""
import os

import numpy as np
import torch

import attnspec
import attnspec.hooks
from conftest import SOURCE

FIXTURES = os.path.join(SOURCE, "tests", "fixtures")


def load_shipped(model, weights, rename):
    """The shipped checkpoint's tensors into the training script's torch model (names mapped by `rename`)."""
    state = {}
    for name in model.state_dict():
        stored, transpose = rename(name)
        value = weights.tensor(stored)
        state[name] = torch.from_numpy(value.T.copy() if transpose else value)
    model.load_state_dict(state)
    return model.eval()


def tiny_llama():
    import train_tiny_llama as recipe

    weights = attnspec.ModelWeights(os.path.join(SOURCE, "models", "tiny-llama-books"))

    def rename(name):
        if name.startswith("layers."):
            layer, rest = name[len("layers."):].split(".", 1)
            group = "self_attn." if rest.split(".")[0] in ("q_proj", "k_proj", "v_proj", "o_proj") else (
                "mlp." if rest.split(".")[0] in ("gate_proj", "up_proj", "down_proj") else "")
            return f"model.layers.{layer}.{group}{rest}", False
        return "model." + name, False

    return recipe, weights, load_shipped(recipe.TinyLlama(), weights, rename)


def test_llama_queries_and_keys_equal_the_rotary_fixture():
    recipe, weights, model = tiny_llama()
    fixture = os.path.join(FIXTURES, "rotary_forward", "tiny-llama-books")
    tokens = torch.from_numpy(np.load(os.path.join(fixture, "tokens.npy"))).reshape(1, -1)
    positions = np.load(os.path.join(fixture, "positions.npy"))
    layers = attnspec.hooks.attention_layers(model, heads=recipe.HEADS, kv_heads=recipe.KV_HEADS)
    assert [(layer.heads, layer.kv_heads, layer.head_dim) for layer in layers] == [(4, 2, 64)] * 4
    rotary = {"theta": recipe.ROPE_THETA, "scaling": recipe.ROPE_SCALING}
    captured = attnspec.hooks.capture(model, tokens, layers, rotary=rotary)
    assert np.allclose(captured.frequencies, weights.config["rotary"]["inverse_frequencies"], rtol=1e-15)
    for layer in range(4):
        for ours, name in [(captured.queries, "query"), (captured.keys, "key"),
                           (captured.queries_before_rotation, "query_before_rotation"),
                           (captured.keys_before_rotation, "key_before_rotation")]:
            expected = np.load(os.path.join(fixture, f"layers.{layer}.{name}.npy"))
            got = ours[layer][positions].reshape(len(positions), -1)
            scale = np.abs(expected).max()
            assert np.abs(got - expected).max() <= 2e-4 * scale, (layer, name, np.abs(got - expected).max() / scale)


def test_gpt2_queries_and_keys_equal_the_forward_fixture():
    import train_tiny_gpt2 as recipe

    weights = attnspec.ModelWeights(os.path.join(SOURCE, "models", "tiny-gpt2-books"))
    conv1d = ("c_attn.weight", "c_fc.weight", "attn_proj.weight", "mlp_proj.weight")

    def rename(name):
        stored = name.replace("attn_proj", "attn.c_proj").replace("mlp_proj", "mlp.c_proj").replace("c_fc", "mlp.c_fc")
        stored = stored.replace("c_attn", "attn.c_attn")
        return stored, name.endswith(conv1d)

    model = load_shipped(recipe.TinyGPT2(), weights, rename)
    fixture = os.path.join(FIXTURES, "gpt2_forward")
    tokens = torch.from_numpy(np.load(os.path.join(fixture, "tokens.npy")).astype(np.int64)).reshape(1, -1)
    layers = attnspec.hooks.attention_layers(model, heads=recipe.HEADS)
    captured = attnspec.hooks.capture(model, tokens, layers)
    for layer in range(4):
        for ours, name in [(captured.queries, "query"), (captured.keys, "key")]:
            expected = np.load(os.path.join(fixture, f"layers.{layer}.{name}.npy"))
            got = ours[layer].reshape(expected.shape[0], -1)
            assert np.abs(got - expected).max() <= 2e-4 * np.abs(expected).max(), (layer, name)
    # The weights hooks slice give the M the checkpoint reader gives, head by head (the shipped weights are fp16,
    # exactly representable, so the spectra agree to rounding).
    from_checkpoint = attnspec.analyse_weights(weights)
    units = captured.units()
    report = attnspec.analyse_model(units, stability=False)
    for ours, theirs in zip(report.heads, from_checkpoint.heads):
        assert (ours.layer, ours.head) == (theirs.layer, theirs.head)
        assert np.allclose(ours.interaction.singular_values, theirs.interaction.singular_values, rtol=1e-12)


class ConvOne(torch.nn.Module):
    """Hugging Face GPT-2's Conv1D: weight [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_in, n_out))
        self.bias = torch.nn.Parameter(torch.randn(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class GroupedAttention(torch.nn.Module):
    num_heads, num_key_value_heads = 6, 2

    def __init__(self):
        super().__init__()
        self.q_proj = torch.nn.Linear(24, 24, bias=True)
        self.k_proj = torch.nn.Linear(24, 8, bias=True)

    def forward(self, x):
        return self.q_proj(x).sum() + self.k_proj(x).sum()


def test_layouts_and_groups_slice_the_right_weights():
    torch.manual_seed(0)
    packed = torch.nn.Module()
    packed.c_attn = ConvOne(12, 36)
    packed.n_head = 3
    (layer,) = attnspec.hooks.attention_layers(packed)
    w_q, w_k, b_q, b_k = layer.weights()
    weight = packed.c_attn.weight.detach().double().numpy()
    assert np.array_equal(w_q, weight[:, :12].T) and np.array_equal(w_k, weight[:, 12:24].T)
    assert np.array_equal(b_k, packed.c_attn.bias.detach().double().numpy()[12:24])

    model = torch.nn.Module()
    model.attn = GroupedAttention()
    (layer,) = attnspec.hooks.attention_layers(model)
    x = torch.randn(1, 10, 24)
    captured = attnspec.hooks.capture(model, x, [layer], forward=lambda: model.attn(x))
    assert captured.queries[0].shape == (10, 6, 4) and captured.keys[0].shape == (10, 2, 4)
    per_head = captured.units()
    assert [(u["first_query_head"], u["kv_head"]) for u in per_head] == [(h, h // 3) for h in range(6)]
    stacked = captured.units(grouping="per_kv_head")
    assert [u["queries"].shape for u in stacked] == [(30, 4), (30, 4)]
    q = model.attn.q_proj(x)[0].detach().double().numpy()
    assert np.allclose(stacked[1]["queries"][10:20], q[:, 16:20])
    assert np.array_equal(stacked[1]["query_weight"], model.attn.q_proj.weight.detach().double().numpy()[12:24])
    try:
        attnspec.hooks.attention_layers(torch.nn.Linear(3, 3))
        raise AssertionError("a model without attention projections was accepted")
    except attnspec.InvalidArgument as error:
        assert "found no module named c_attn" in str(error)


def test_one_call_analysis_of_a_torch_model():
    recipe, weights, model = tiny_llama()
    tokens = torch.arange(200).reshape(1, -1) % 256
    rotary = {"theta": recipe.ROPE_THETA, "scaling": recipe.ROPE_SCALING}
    report = attnspec.hooks.analyse(model, tokens, heads=recipe.HEADS, kv_heads=recipe.KV_HEADS, rotary=rotary,
                                    grouping="per_kv_head", stability_ranks=[2])
    assert len(report) == 4 * 2 and report.grouping == "per_kv_head"
    assert all(h.queries == 2 * 200 and h.keys == 200 and not h.causal for h in report.heads)
    # Its M spectra are the checkpoint reader's (the model holds the checkpoint's bfloat16 values exactly).
    from_checkpoint = attnspec.analyse_weights(weights, grouping="per_kv_head")
    for ours, theirs in zip(report.heads, from_checkpoint.heads):
        assert np.allclose(ours.interaction.singular_values, theirs.interaction.singular_values, rtol=1e-12)
