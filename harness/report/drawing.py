"""Drawing a report's figures: at once (:func:`draw_now`), or on both cores
(:class:`FigurePool`), which a report of many figures wants: each takes about half a second
of matplotlib (its layout and its PNG), and ``make demo`` draws some 45 (docs/benchmarks.md).

Every figure function here takes the file it writes as its last positional argument and
returns it; a drawer returns that path at once, and the file is there once the pool is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import ParamSpec

P = ParamSpec("P")

# How a report draws a figure: ``draw(figure, *args, path, **kwargs)`` returns ``path``.
Draw = Callable[..., Path]


def draw_now(figure: Callable[P, Path], *args: P.args, **kwargs: P.kwargs) -> Path:
    """Draw ``figure`` here and now."""
    return figure(*args, **kwargs)


def _path_of(args: tuple[object, ...]) -> Path:
    path = args[-1] if args else None
    if not isinstance(path, Path):
        raise TypeError(f"a figure's last positional argument is its file, got {path!r}")
    return path


class FigurePool:
    """Figures drawn in worker processes; leaving the ``with`` block waits for every one, and
    raises the first that failed (naming its file)."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._drawing: list[tuple[Path, Future[Path]]] = []

    def __enter__(self) -> FigurePool:
        self._pool = ProcessPoolExecutor(max_workers=self._workers)
        return self

    def draw(self, figure: Callable[P, Path], *args: P.args, **kwargs: P.kwargs) -> Path:
        """Start drawing ``figure``; its file, which exists once the pool is closed."""
        if self._pool is None:
            raise RuntimeError("FigurePool.draw outside its with block")
        path = _path_of(args)
        self._drawing.append((path, self._pool.submit(figure, *args, **kwargs)))
        return path

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        drawing, self._drawing = self._drawing, []
        try:
            if kind is None:  # (when the report failed already, there is nothing to wait for)
                for path, future in drawing:
                    failed = future.exception()
                    if failed is not None:
                        raise RuntimeError(f"drawing {path.name} failed: {failed}") from failed
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
