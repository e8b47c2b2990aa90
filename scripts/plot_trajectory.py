"""The figure and table of docs/reproducing.md's weight-decay section, from the runs of
scripts/train_with_monitor.py: k@0.9 of the field and of M (median over heads and held-out texts, with the
range over heads) against the training step, with and without weight decay, and the held-out loss.

    /usr/bin/python3 scripts/plot_trajectory.py docs/data/trajectory-wd0.1.json docs/data/trajectory-wd0.json \
        --figure docs/figures/training-trajectory.svg

Prints the table (markdown) to stdout. Needs matplotlib (Debian's python3-matplotlib).
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIGURES = [("field_rank_at_tau", "k@0.9 of the field Ẽ"), ("interaction_rank_at_tau", "k@0.9 of M")]


def by_step(run, name):
    """Per recorded step: (step, median, min, max) of `name` over heads and texts."""
    out = []
    for step in sorted({row["step"] for row in run["rows"]}):
        values = [row[name] for row in run["rows"] if row["step"] == step]
        out.append((step, float(np.median(values)), min(values), max(values)))
    return out


def mean_loss(run):
    return {entry["step"]: float(np.mean(list(entry["held_out_bits_per_byte"].values()))) for entry in run["losses"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--figure", required=True)
    args = parser.parse_args()
    runs = [json.load(open(path)) for path in args.runs]

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    styles = [("-", "tab:blue"), ("--", "tab:red"), (":", "tab:green")]
    for run, (style, colour) in zip(runs, styles):
        label = f"weight decay {run['weight_decay']:g}"
        for axis, (name, title) in zip(axes[:2], FIGURES):
            series = by_step(run, name)
            steps = [s for s, *_ in series]
            axis.plot(steps, [m for _, m, _, _ in series], style, color=colour, label=label)
            axis.fill_between(steps, [lo for *_, lo, _ in series], [hi for *_, hi in series], color=colour,
                              alpha=0.12)
            axis.set_title(title + " (median, range over heads)", fontsize=10)
            axis.set_xlabel("training step")
        loss = mean_loss(run)
        axes[2].plot(sorted(loss), [loss[s] for s in sorted(loss)], style, color=colour, label=label)
    axes[0].set_ylabel("components")
    axes[1].set_ylim(bottom=0)
    axes[0].set_ylim(bottom=0)
    axes[2].set_title("held-out loss (bits per byte, mean of 3 books)", fontsize=10)
    axes[2].set_xlabel("training step")
    for axis in axes:
        axis.legend(fontsize=8)
    figure.tight_layout()
    plt.rcParams["svg.hashsalt"] = "attnspec"
    figure.savefig(args.figure, metadata={"Date": None})

    header = "| step | " + " | ".join(
        f"wd {run['weight_decay']:g}: k@0.9 Ẽ | k@0.9 M | loss" for run in runs) + " |"
    print(header)
    print("|" + " ---: |" * (1 + 3 * len(runs)))
    tables = [(dict((s, m) for s, m, _, _ in by_step(run, FIGURES[0][0])),
               dict((s, m) for s, m, _, _ in by_step(run, FIGURES[1][0])), mean_loss(run)) for run in runs]
    for step in sorted(tables[0][0]):
        cells = []
        for field, interaction, loss in tables:
            cells += [f"{field.get(step, float('nan')):g}", f"{interaction.get(step, float('nan')):g}",
                      f"{loss.get(step, float('nan')):.2f}"]
        print(f"| {step} | " + " | ".join(cells) + " |")
    for run in runs:
        print(f"\nweight decay {run['weight_decay']:g}: {run['seconds']} s, monitor {run['monitor_seconds']} s, "
              f"torch {run['torch']}, {run['threads']} thread(s)")


if __name__ == "__main__":
    main()
