"""What a report holds, before it is rendered: sections of runs (each run a row of the tables
and, when it was traced, a figure of its mechanism), figures, and the answers to the thread's
questions drawn from those runs. Rendering is :mod:`harness.report.render`'s job."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.results import Run


@dataclass(frozen=True, slots=True)
class Figure:
    path: Path  # a PNG in the report folder
    anchor: str
    alt: str  # what it shows, for someone who cannot see it
    caption: str  # Markdown


@dataclass(frozen=True, slots=True)
class Section:
    anchor: str
    title: str
    intro: str  # Markdown
    runs: tuple[Run, ...]
    figures: tuple[Figure, ...] = ()


@dataclass(frozen=True, slots=True)
class Answer:
    anchor: str
    question: str
    text: str  # Markdown, with links to the sections and figures it draws on
    measured: bool  # False: a run it needs was not part of this report
    verdict: str = ""  # the answer in a line, from the same numbers


FIXED_ANCHORS = ("answers", "how-to-read")  # the page's own headings


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    summary: str  # Markdown: what ran, on what, for how long
    answers: tuple[Answer, ...]
    sections: tuple[Section, ...]
    how_to_read: str  # Markdown

    def __post_init__(self) -> None:
        """Every anchor names one place: a link to a section must not land on an answer."""
        anchors = [
            *FIXED_ANCHORS,
            *(a.anchor for a in self.answers),
            *(s.anchor for s in self.sections),
            *(f.anchor for f in self.figures),
        ]
        twice = sorted({a for a in anchors if anchors.count(a) > 1})
        if twice:
            raise ValueError(f"anchors used twice in the report: {', '.join(twice)}")

    @property
    def runs(self) -> tuple[Run, ...]:
        return tuple(run for section in self.sections for run in section.runs)

    @property
    def figures(self) -> tuple[Figure, ...]:
        return tuple(f for section in self.sections for f in section.figures)


def plain_text(markdown: str) -> str:
    """``markdown`` for a terminal: a link within the report becomes its words."""
    return re.sub(r"\[([^\]]+)\]\(#[^)]+\)", r"\1", markdown)
