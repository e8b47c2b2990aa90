"""Pictures of a Report: matplotlib when it is installed, attnspec's own SVG writer otherwise."""


def plot_report(report, path=None, title=None):
    """Draws each head's cumulative variance of the field and of M (medians bold) and k@tau per layer.

    With matplotlib: returns the Figure (saved to `path` too when given, in the format its extension names).
    Without: writes the report's SVG (Report.svg, the picture report sets carry) to `path`, which must then end
    in .svg, and returns its text."""
    try:
        import matplotlib
        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        if path is None or not str(path).endswith(".svg"):
            raise ValueError("plot_report: without matplotlib the plot is the report's SVG; give a path ending in .svg")
        text = report.svg(title=title)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return text
    import numpy as np

    figure, (curves, ranks) = plt.subplots(1, 2, figsize=(11, 4.2))
    for part, colour in (("field", "tab:blue"), ("interaction", "tab:red")):
        spectra = [getattr(h, part) for h in report.heads if getattr(h, part) is not None]
        for spectrum in spectra:
            curves.plot(spectrum.cumulative_variance, color=colour, alpha=0.25, linewidth=0.8)
        if spectra:
            length = min(len(s.cumulative_variance) for s in spectra)
            median = np.median([s.cumulative_variance[:length] for s in spectra], axis=0)
            label = "field Ẽ" if part == "field" else "interaction M"
            curves.plot(median, color=colour, linewidth=2.5, label=f"{label} (median of {len(spectra)})")
    tau = report.options.tau
    curves.axhline(tau, color="grey", linestyle=":", linewidth=1)
    curves.set_xscale("symlog", linthresh=1)
    curves.set_xlabel("components k")
    curves.set_ylabel("cumulative variance")
    curves.legend(loc="lower right")
    layers = [summary.layer for summary in report.layers]
    for name, colour, label in (("field_rank_at_tau", "tab:blue", "Ẽ"), ("interaction_rank_at_tau", "tab:red", "M")):
        spreads = [getattr(summary, name) for summary in report.layers]
        if any(s.count for s in spreads):
            medians = [s.median for s in spreads]
            low = [s.median - s.min for s in spreads]
            high = [s.max - s.median for s in spreads]
            ranks.errorbar(layers, medians, yerr=[low, high], color=colour, marker="o", capsize=3,
                           label=f"k@{tau:g} of {label} (min / median / max)")
    ranks.set_xlabel("layer")
    ranks.set_ylabel(f"k@{tau:g}")
    ranks.legend(loc="best")
    figure.suptitle(title or "Logit energy field Ẽ against interaction matrix M")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path)
    return figure
