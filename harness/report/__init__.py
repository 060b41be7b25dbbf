"""The comparison report: sections of runs as tables, figures of each run's mechanism, and
the answers to the thread's questions, rendered to Markdown and HTML from templates.

:mod:`~harness.report.model` is what a report holds; :mod:`~harness.report.tables`,
:mod:`~harness.report.figures` and :mod:`~harness.report.answers` derive its parts from the
runs; :mod:`~harness.report.build` puts a section together; :mod:`~harness.report.render`
writes the files.
"""
