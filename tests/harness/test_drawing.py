"""The report's figures drawn on both cores (harness.report.drawing): the same files as drawn
here and now, and a figure that fails says which."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report import build
from harness.report.drawing import FigurePool
from harness.results import Run
from tests.harness.test_report import row, trace


def runs() -> list[Run]:
    sizes = [Run(row(d, publishers=n), trace(d)) for d in ("per-node", "shared") for n in (3, 10)]
    return [*sizes, Run(row("naive"), None)]


def test_a_pool_draws_the_same_figures_as_drawing_them_here(tmp_path: Path) -> None:
    here, pooled = tmp_path / "here", tmp_path / "pooled"
    here.mkdir()
    pooled.mkdir()
    at_once = build.section(here, "sizes", "Sizes", "Grows.", runs(), scaling=True)
    with FigurePool() as pool:
        section = build.section(
            pooled, "sizes", "Sizes", "Grows.", runs(), scaling=True, draw=pool.draw
        )
        assert [f.path.parent for f in section.figures] == [pooled] * len(section.figures)
    names = sorted(p.name for p in here.iterdir())
    assert len(names) == len(at_once.figures) == 6  # 4 mechanisms, latency, scaling
    assert sorted(p.name for p in pooled.iterdir()) == names
    for name in names:
        assert (pooled / name).read_bytes() == (here / name).read_bytes(), name
    assert [f.anchor for f in section.figures] == [f.anchor for f in at_once.figures]


def broken_figure(data: int, path: Path) -> Path:
    raise ValueError(f"no figure of {data}")


def test_a_figure_that_fails_in_the_pool_names_its_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    failed = r"drawing broken\.png failed: no figure of 7"
    with pytest.raises(RuntimeError, match=failed), FigurePool() as pool:
        assert pool.draw(broken_figure, 7, broken) == broken  # its file, at once


def test_a_figure_is_given_its_file_last(tmp_path: Path) -> None:
    with FigurePool() as pool, pytest.raises(TypeError, match="last positional argument"):
        pool.draw(broken_figure, tmp_path / "broken.png", 7)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="outside its with block"):
        pool.draw(broken_figure, 7, tmp_path / "broken.png")
