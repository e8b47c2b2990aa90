"""SpectrumMonitor: the spectra of every head's M and field on a fixed held-out batch, recorded during training.

    monitor = attnspec.monitor.SpectrumMonitor(model, held_out_tokens, every=50, heads=12)
    for step in range(steps):
        monitor(step)          # records at steps 0, 50, 100, ...
        ...                    # the training step
    monitor.record(steps)      # and once at the end
    monitor.table()            # one row per (step, sequence, layer, head)

Recording puts the model in eval mode for one no-grad forward pass and restores its mode; nothing it does
touches gradients or the optimiser.
"""
import time

from . import hooks
from .tables import as_table


class SpectrumMonitor:
    """Records, every `every` steps, each head's k@tau and entropy effective rank of the field (on each sequence of
    `tokens`, [batch, seq]) and of M (from the current weights). `heads`, `kv_heads` and `rotary` are as in
    attnspec.hooks; `forward(tokens)` replaces `model(tokens)` when the model needs more arguments."""

    def __init__(self, model, tokens, every=50, tau=0.9, heads=None, kv_heads=None, rotary=None, threads=0,
                 forward=None):
        if every <= 0:
            raise ValueError(f"SpectrumMonitor: every = {every} must be positive")
        self.model, self.tokens, self.every, self.tau = model, tokens, every, tau
        self.rotary, self.threads, self.forward = rotary, threads, forward
        self.layers = hooks.attention_layers(model, heads=heads, kv_heads=kv_heads)
        self.rows = []
        self.seconds = 0.0

    def __call__(self, step, model=None):
        """Records at every multiple of `every`; a training loop calls it each step (the signature of an
        on_step(step, model) callback)."""
        if step % self.every == 0:
            self.record(step)

    def record(self, step):
        """Records now, under the label `step`."""
        from . import analyse_model

        started = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        try:
            for sequence in range(self.tokens.shape[0]):
                forward = None if self.forward is None else (lambda: self.forward(self.tokens))
                captured = hooks.capture(self.model, self.tokens, self.layers, rotary=self.rotary,
                                         sequence=sequence, forward=forward)
                report = analyse_model(captured.units(), tau=self.tau, stability=False, threads=self.threads)
                for head in report.heads:
                    self.rows.append({
                        "step": step, "sequence": sequence, "layer": head.layer, "head": head.head,
                        "field_rank_at_tau": head.field.rank_at_tau,
                        "interaction_rank_at_tau": head.interaction.rank_at_tau,
                        "field_entropy_effective_rank": head.field.entropy_effective_rank,
                        "interaction_entropy_effective_rank": head.interaction.entropy_effective_rank,
                    })
        finally:
            self.model.train(was_training)
        self.seconds += time.perf_counter() - started

    def table(self):
        """One row per (step, sequence, layer, head): a pandas DataFrame when pandas is installed, else dicts."""
        return as_table(self.rows)

    def medians(self):
        """Per recorded step, the median over heads and sequences of each recorded figure (list of dicts)."""
        steps = sorted({row["step"] for row in self.rows})
        figures = [name for name in self.rows[0] if name not in ("step", "sequence", "layer", "head")] if self.rows else []
        out = []
        for step in steps:
            at_step = [row for row in self.rows if row["step"] == step]
            summary = {"step": step, "heads": len(at_step)}
            for name in figures:
                values = sorted(row[name] for row in at_step)
                middle = len(values) // 2
                summary[name] = values[middle] if len(values) % 2 else 0.5 * (values[middle - 1] + values[middle])
            out.append(summary)
        return out
