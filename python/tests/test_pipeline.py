"""analyse_model and analyse_weights against the C++ library: the same report the C++ command line writes for the
shipped models, the same figures as the single-head classes, and the same results for any thread count."""
import json
import os
import threading

import numpy as np

import attnspec
from conftest import BUILD, SOURCE, run

GPT2 = os.path.join(SOURCE, "models", "tiny-gpt2-books")
LLAMA = os.path.join(SOURCE, "models", "tiny-llama-books")
GPT2_DUMP = os.path.join(SOURCE, "tests", "fixtures", "gpt2_forward")
CLI = os.path.join(BUILD, "examples", "analyse_checkpoint")


def without_provenance(text):
    """report.json's content apart from how it was run: provenance, and the threads asked for."""
    report = json.loads(text)
    report.pop("provenance")
    report["options"].pop("threads")
    return report


def test_report_equals_the_command_lines(tmp_path):
    """The C++ command line analyses the shipped GPT-2 with its forward-pass fixture; Python hands the same
    queries, keys and weights to analyse_model and must get the same report.json, figure for figure."""
    run(CLI, GPT2, "--dump", GPT2_DUMP, "--out", str(tmp_path / "cli"), "--threads", "2")
    weights = attnspec.ModelWeights(GPT2)
    config = weights.config
    d = config["head_dim"]

    def load(unit):
        queries = np.load(os.path.join(GPT2_DUMP, f"layers.{unit.layer}.query.npy"))
        keys = np.load(os.path.join(GPT2_DUMP, f"layers.{unit.layer}.key.npy"))
        head = unit.first_query_head
        return dict(weights.input(unit), queries=queries[:, head * d:(head + 1) * d],
                    keys=keys[:, unit.kv_head * d:(unit.kv_head + 1) * d])

    report = attnspec.analyse_model(weights.units(), load, threads=2)
    expected = without_provenance(open(tmp_path / "cli" / "report.json").read())
    assert without_provenance(report.to_json()) == expected
    assert report.to_csv() == open(tmp_path / "cli" / "heads.csv").read()

    run(CLI, LLAMA, "--out", str(tmp_path / "llama"), "--per-kv-head", "--fold-norm")
    weights_only = attnspec.analyse_weights(LLAMA, grouping="per_kv_head", fold_norm=True)
    expected = without_provenance(open(tmp_path / "llama" / "report.json").read())
    assert without_provenance(weights_only.to_json()) == expected


def test_pipeline_figures_are_the_single_head_classes(rng):
    heads = [{"layer": layer, "head": head, "queries": rng.standard_normal((64, 16)),
              "keys": rng.standard_normal((64, 16)), "query_weight": rng.standard_normal((16, 40)),
              "key_weight": rng.standard_normal((16, 40)), "preparation": {"scale": 0.25}}
             for layer in range(2) for head in range(3)]
    report = attnspec.analyse_model(heads, stability_ranks=[2, 4])
    assert len(report) == 6 and [h.head for h in report.heads] == [0, 1, 2, 0, 1, 2]
    for head, given in zip(report.heads, heads):
        field = attnspec.LogitEnergyField(given["queries"], given["keys"])
        M = attnspec.InteractionMatrix(given["query_weight"], given["key_weight"], scale=0.25)
        # With stability on, the pipeline's field keeps vectors (the Householder route): equal to ~1e-15.
        assert np.allclose(head.field.singular_values, field.singular_values, rtol=0, atol=1e-13 * field.singular_values[0])
        assert np.array_equal(head.interaction.singular_values, M.singular_values)
        assert head.field.rank_at_tau == field.stats().rank_at(0.9)
        bound = attnspec.SoftmaxStabilityBound(given["queries"], given["keys"], causal=True, ranks=[2, 4],
                                               ranks_at_variance=[0.9])
        assert [s.k for s in head.stability] == [head.field.rank_at_tau] + [k for k in (2, 4) if k != head.field.rank_at_tau]
        assert head.stability[0] == bound.at_rank(head.field.rank_at_tau)
        assert np.array_equal(head.field.singular_values, bound.singular_values)
    ranks = [h.field.rank_at_tau for h in report.heads]
    assert report.overall.field_rank_at_tau.median == float(np.median(ranks))
    table = report.table()
    rows = table.to_dict("records") if hasattr(table, "to_dict") else table
    assert [row["field_rank_at_tau"] for row in rows] == ranks


def test_results_do_not_depend_on_threads(rng):
    units = attnspec.model_heads(3, 4, 2, grouping="per_kv_head")
    tensors = {(u.layer, u.kv_head): {"queries": rng.standard_normal((2 * 50, 8)), "keys": rng.standard_normal((50, 8))}
               for u in units}
    reports = [without_provenance(attnspec.analyse_model(units, lambda u: tensors[(u.layer, u.kv_head)],
                                                         threads=t).to_json()) for t in (1, 2, 3)]
    assert reports[0] == reports[1] == reports[2]
    # Python threads share the module: each computes its own fields with the GIL released.
    inputs = [(rng.standard_normal((500, 32)), rng.standard_normal((500, 32))) for _ in range(4)]
    alone = [attnspec.LogitEnergyField(q, k).singular_values for q, k in inputs]
    together = [None] * 4

    def work(i):
        together[i] = attnspec.LogitEnergyField(*inputs[i]).singular_values

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))


def test_report_is_written_all_or_nothing(tmp_path, rng):
    report = attnspec.analyse_model([{"layer": 0, "head": 0, "queries": rng.standard_normal((30, 4)),
                                      "keys": rng.standard_normal((30, 4))}])
    report.write(str(tmp_path / "out"), {"text": "random"})
    written = set(os.listdir(tmp_path / "out"))
    assert {"heads.csv", "report.json", "spectra.svg", "summary.txt"} <= written
    assert json.load(open(tmp_path / "out" / "report.json"))["provenance"] == {"text": "random"}
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not attnspec's")
    try:
        report.write(str(tmp_path / "mine"))
        raise AssertionError("a folder attnspec did not write was replaced")
    except attnspec.FileError as error:
        assert error.path == str(tmp_path / "mine")
    assert report.to_dict()["heads"][0]["field"]["rank_at_tau"] == report.heads[0].field.rank_at_tau
    assert "<svg" in report.svg(title="one head") and "one head" in report.svg(title="one head")
