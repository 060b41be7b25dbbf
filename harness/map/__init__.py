"""``python -m harness map``: where each answer flips. Every design x estate size x report
cadence in virtual time (:mod:`harness.map.cells` runs them, :mod:`harness.map.verdicts`
judges and words them, :mod:`harness.map.figure` draws them)."""
