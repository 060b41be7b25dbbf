"""What changes with the size of the estate, as plots: token calls, Analytics calls per minute
(peak and mean, against the rate limit) and Analytics 429s, each against the number of
publishers, one line per design."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.virtual.simulation import VirtualResult

# Okabe-Ito: distinguishable with every common kind of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")


def scaling_plots(folder: Path, results: Sequence[VirtualResult]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    designs = list(dict.fromkeys(r.design for r in results))
    by_design = {
        d: sorted((r for r in results if r.design == d), key=lambda r: r.publishers)
        for d in designs
    }
    limit = results[0].analytics_limit_per_minute
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for colour, (design, runs) in zip(PALETTE * 3, by_design.items(), strict=False):
        sizes = [r.publishers for r in runs]
        axes[0].plot(sizes, [r.token_calls for r in runs], "o-", color=colour, label=design)
        axes[1].plot(
            sizes, [r.analytics_per_minute_peak for r in runs], "o-", color=colour, label=design
        )
        axes[1].plot(
            sizes, [r.analytics_per_minute_mean for r in runs], "o:", color=colour, alpha=0.7
        )
        axes[2].plot(sizes, [r.analytics_429s for r in runs], "o-", color=colour, label=design)
    axes[1].axhline(limit, color="#000000", linestyle="--", linewidth=1)
    axes[1].annotate(
        f"Adobe's limit: {limit:g}/min",
        (0.02, limit),
        xycoords=("axes fraction", "data"),
        textcoords="offset points",
        xytext=(0, 4),
        fontsize=8,
    )
    titles = (
        "token calls (whole horizon)",
        "Analytics calls per minute\n(solid: peak, dotted: mean)",
        "Analytics 429s (whole horizon)",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("publishers")
        ax.grid(alpha=0.3)
    axes[2].set_yscale("symlog")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = folder / "scaling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
