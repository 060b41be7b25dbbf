"""One row of ``make bench``: a figure, the baseline it is measured against in the same run,
the ratio, and the target it is held to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    section: str
    what: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str = ""
    met: bool | None = None  # None: no target, a figure to read
    note: str = ""
    paired: float | None = None  # runs in turn: the median pair's ratio, not the medians'

    @property
    def ratio(self) -> float:
        if self.paired is not None:
            return self.paired
        return self.value / self.baseline_value if self.baseline_value else float("nan")


def markdown(figures: list[Figure]) -> str:
    lines = [
        "| section | measurement | value | baseline (same run) | ratio | target | met |",
        "|---|---|---:|---|---:|---|:-:|",
    ]
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        note = f" ({f.note})" if f.note else ""
        lines.append(
            f"| {f.section} | {f.what}{note} | {_number(f.value)} {f.unit} | "
            f"{f.baseline}: {_number(f.baseline_value)} {f.unit} | {_ratio(f.ratio)} | "
            f"{f.target} | {met} |"
        )
    return "\n".join(lines) + "\n"


def _ratio(ratio: float) -> str:
    return f"{ratio:.4f}x" if ratio < 0.01 else f"{ratio:.2f}x"


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
