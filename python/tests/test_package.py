"""The package as users meet it: the type stubs declare everything the compiled module has, the README's Python
quick start is examples/python/quick_start.py and runs as written, and the training monitor records without
disturbing training."""
import ast
import inspect
import os
import re
import subprocess
import sys

import numpy as np
import torch

import attnspec
import attnspec.monitor
from attnspec import _core
from conftest import BUILD, SOURCE


def declared(stub_path):
    """{name: set of member names} for the stub's classes, and the module-level names under key None."""
    tree = ast.parse(open(stub_path).read())
    names = {None: set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            members |= {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
            for base in node.bases:
                members |= names.get(getattr(base, "id", None), set())
            names[node.name] = members
            names[None].add(node.name)
        elif isinstance(node, ast.FunctionDef):
            names[None].add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names[None].add(node.target.id)
    return names


def test_stubs_declare_the_whole_compiled_module():
    stubs = declared(os.path.join(os.path.dirname(attnspec.__file__), "_core.pyi"))
    for name, value in vars(_core).items():
        if name.startswith("__") and name != "__version__":
            continue
        assert name in stubs[None], f"_core.{name} is missing from _core.pyi"
        if inspect.isclass(value):
            for member in vars(value):
                if not member.startswith("_") or member == "__len__":
                    assert member in stubs[name], f"_core.{name}.{member} is missing from _core.pyi"
    for public in attnspec.__all__:
        assert getattr(attnspec, public).__doc__ or public == "__version__", f"attnspec.{public} has no docstring"


def test_readme_quick_start_is_the_example_and_runs():
    example = open(os.path.join(SOURCE, "examples", "python", "quick_start.py")).read()
    readme = open(os.path.join(SOURCE, "README.md")).read()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert example in blocks, "README's Python quick start differs from examples/python/quick_start.py"
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "python"))
    done = subprocess.run([sys.executable, "examples/python/quick_start.py"], cwd=SOURCE, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert re.search(r"k@0\.9 of the field: 7 of 64\nk@0\.9 of M: \d+ of 64\n", done.stdout)
    assert re.search(r"rank 8: worst-row TV certified [0-9.e-]+, measured [0-9.e-]+\n", done.stdout)
    assert "all         12" in done.stdout


class TinyModel(torch.nn.Module):
    """Two GPT-2-style layers, enough for the monitor."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(32, 16)
        self.blocks = torch.nn.ModuleList(torch.nn.ModuleDict({"c_attn": torch.nn.Linear(16, 48)}) for _ in range(2))
        self.out = torch.nn.Linear(16, 32)

    def forward(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            q, k, v = block["c_attn"](x).split(16, dim=-1)
            x = x + torch.softmax(q @ k.transpose(-1, -2) / 4, dim=-1) @ v
        return self.out(x)


def test_monitor_records_every_n_steps_without_touching_training():
    torch.manual_seed(0)
    model = TinyModel().train()
    held_out = torch.randint(0, 32, (2, 24))
    monitor = attnspec.monitor.SpectrumMonitor(model, held_out, every=2, heads=4)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(5):
        monitor(step, model)
        assert model.training
        loss = model(torch.randint(0, 32, (4, 24))).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    monitor.record(5)
    steps = sorted({row["step"] for row in monitor.rows})
    assert steps == [0, 2, 4, 5] and len(monitor.rows) == 4 * 2 * 2 * 4  # steps x sequences x layers x heads
    last = [row for row in monitor.rows if row["step"] == 5 and row["sequence"] == 1]
    layer = monitor.layers[1]
    w_q, w_k, _, _ = layer.weights()
    expected = attnspec.InteractionMatrix(w_q[4:8], w_k[4:8], scale=0.5).stats().rank_at(0.9)
    assert [row for row in last if (row["layer"], row["head"]) == (1, 1)][0]["interaction_rank_at_tau"] == expected
    medians = monitor.medians()
    assert [m["step"] for m in medians] == steps and all(m["heads"] == 16 for m in medians)
    assert medians[-1]["field_rank_at_tau"] == float(np.median([r["field_rank_at_tau"] for r in monitor.rows if r["step"] == 5]))


def small_report(rng):
    return attnspec.analyse_model([{"layer": layer, "head": head, "queries": rng.standard_normal((40, 8)),
                                    "keys": rng.standard_normal((40, 8)), "query_weight": rng.standard_normal((8, 20)),
                                    "key_weight": rng.standard_normal((8, 20))}
                                   for layer in range(2) for head in range(2)], stability=False)


def test_plot_report_draws_with_matplotlib(tmp_path, rng):
    import matplotlib

    figure = attnspec.plot_report(small_report(rng), tmp_path / "spectra.png", title="four heads")
    assert (tmp_path / "spectra.png").stat().st_size > 1000
    curves, ranks = figure.axes
    assert len(curves.lines) == 4 + 1 + 4 + 1 + 1  # each head's two curves, two medians, the tau line
    assert figure._suptitle.get_text() == "four heads" and matplotlib.get_backend()


def test_plot_report_falls_back_to_the_svg_writer(tmp_path, rng, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    report = small_report(rng)
    text = attnspec.plot_report(report, tmp_path / "spectra.svg", title="four heads")
    assert text == report.svg(title="four heads") == (tmp_path / "spectra.svg").read_text(encoding="utf-8")
    try:
        attnspec.plot_report(report)
        raise AssertionError("no path and no matplotlib was accepted")
    except ValueError as error:
        assert "give a path ending in .svg" in str(error)
