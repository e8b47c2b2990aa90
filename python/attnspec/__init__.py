"""attnspec: spectral analysis of transformer attention heads, from numpy and PyTorch.

The analyses are the C++ library's (attnspec._core), run with the GIL released on arrays read in place:

    field = attnspec.LogitEnergyField(Q, K)          # the head's logit energy field on one text
    M = attnspec.InteractionMatrix(W_Q, W_K)         # its learned interaction matrix
    attnspec.SpectrumStats(field.singular_values).rank_at(0.9)
    report = attnspec.analyse_model(heads)           # every head of a model, with stability and summaries

attnspec.hooks captures queries and keys from PyTorch models; attnspec.monitor records spectra during training.
See docs/python.md.
"""
from ._errors import Cancelled, Error, FileError, InvalidArgument
from ._records import Record
from ._core import (HeadId, InteractionMatrix, LogitEnergyField, ModelWeights, Report, SoftmaxStabilityBound,
                    SpectrumStats, __version__, model_heads, spectrum_gap)
from . import _core
from .plots import plot_report
from .tables import report_table

__all__ = ["Cancelled", "Error", "FileError", "HeadId", "InteractionMatrix", "InvalidArgument", "LogitEnergyField",
           "ModelWeights", "Record", "Report", "SoftmaxStabilityBound", "SpectrumStats", "__version__",
           "analyse_model", "analyse_weights", "model_heads", "plot_report", "report_table", "spectrum_gap"]

Report.table = report_table


def analyse_model(heads, load=None, *, tau=0.9, causal=True, stability=True, causal_field=False,
                  stability_ranks=(), threads=0, scale=None, center_rows=True, drop_leading_keys=0,
                  algorithm="accurate", dtype="float64", progress=None):
    """Analyses every unit of a model: both spectra, their statistics and gap, stability at k@tau (and at
    `stability_ranks`), per-layer and overall summaries. Returns a Report.

    Two ways to give the heads:
      * `heads` a sequence of HeadId and `load(unit)` a callable returning that unit's dict, called just before the
        unit is analysed (from worker threads, one at a time under the GIL), so a model's tensors need not all be
        in memory at once;
      * `heads` a sequence of dicts, each with the unit's "layer" and "head" (or "first_query_head",
        "query_heads", "kv_head") beside its tensors, and no `load`.
    A unit's dict holds any of "queries" (n x d), "keys" (m x d), "query_weight" (d x D, g*d x D for a stacked KV
    group), "key_weight" (d x D) and "preparation" (a dict of InteractionMatrix's scale, norm_gain, norm_bias,
    query_bias, key_bias). `progress(done, total)` is called after each unit; returning False cancels (Cancelled).
    Results do not depend on `threads` (0: every hardware thread). An exception raised by `load` or `progress` is
    raised again, unchanged; attnspec's errors name the layer and head.
    """
    if load is None:
        units, tensors = [], {}
        for position, head in enumerate(heads):
            if not isinstance(head, dict):
                raise InvalidArgument("[attnspec.invalid_argument] analyse_model: without `load`, heads must be "
                                      f"dicts of tensors; heads[{position}] is {type(head).__name__}")
            head = dict(head)
            first = head.pop("first_query_head", head.pop("head", None))
            if "layer" not in head or first is None:
                raise InvalidArgument(f"[attnspec.invalid_argument] analyse_model: heads[{position}] needs 'layer' "
                                      "and 'head' (or 'first_query_head')")
            unit = HeadId(head.pop("layer"), first, head.pop("query_heads", 1), head.pop("kv_head", None))
            units.append(unit)
            tensors[position] = head
        positions = {(u.layer, u.first_query_head, u.query_heads, u.kv_head): p for p, u in enumerate(units)}
        if len(positions) != len(units):
            raise InvalidArgument("[attnspec.invalid_argument] analyse_model: two heads name the same unit")

        def load(unit):
            return tensors[positions[(unit.layer, unit.first_query_head, unit.query_heads, unit.kv_head)]]
    else:
        units = list(heads)
        if not callable(load):
            raise InvalidArgument("[attnspec.invalid_argument] analyse_model: load must be callable")
    return _core._analyse_units(units, load, dtype, progress, tau, causal, stability, causal_field,
                                list(stability_ranks), threads, scale, center_rows, drop_leading_keys, algorithm)


def analyse_weights(checkpoint, *, grouping="per_query_head", fold_norm=False, biases=False, logit_scale=True,
                    tau=0.9, threads=0, dtype="float64", progress=None):
    """The interaction-matrix spectrum of every head of a checkpoint (a path or a ModelWeights), in one call,
    without Python in the loop. Returns a Report; its field entries are None."""
    weights = checkpoint if isinstance(checkpoint, ModelWeights) else ModelWeights(str(checkpoint))
    return _core._analyse_weights(weights, grouping, fold_norm, biases, logit_scale, dtype, progress, tau, threads)
