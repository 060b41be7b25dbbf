"""A :class:`~harness.report.model.Report` as files: ``report.md`` and a self-contained
``report.html`` (figures inlined) from the Jinja2 templates next to this module, prose through
the Markdown library, and the data files of :mod:`harness.report.tables`.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import jinja2
import markdown
from markupsafe import Markup

from harness.report.model import Report
from harness.report.tables import constants, failed_checks, tables, write_data
from harness.report.tables import markdown as markdown_table
from harness.report.templating import environment


def _environment(*, html: bool) -> jinja2.Environment:
    env = environment(html=html).overlay()
    env.filters["markdown"] = _markdown
    env.filters["data_uri"] = _data_uri
    env.globals.update(
        tables=tables,
        constants=constants,
        failed_checks=failed_checks,
        markdown_table=markdown_table,
    )
    return env


def _markdown(text: str) -> Markup:
    return Markup(markdown.markdown(text, extensions=["tables"], output_format="html"))  # noqa: S704


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def render_markdown(report: Report) -> str:
    return _environment(html=False).get_template("report.md.j2").render(report=report)


def render_html(report: Report) -> str:
    return (
        _environment(html=True)
        .get_template("report.html.j2")
        .render(report=report, written=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    )


def write_report(folder: Path, report: Report) -> Path:
    """Writes report.md, report.html, results.csv and results.json; returns report.html."""
    write_data(folder, report.runs)
    (folder / "report.md").write_text(render_markdown(report))
    page = folder / "report.html"
    page.write_text(render_html(report))
    return page
