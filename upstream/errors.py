"""The simulated services' exceptions::

SimulationError
├── InvalidToken        a token that is malformed, signed with an unknown key, or expired
└── ReportRequestError  a request body that is not a report request we can answer
"""

from __future__ import annotations


class SimulationError(Exception):
    """Base of the simulated services' errors."""


class InvalidToken(SimulationError):
    """The token is malformed, signed with an unknown key, or expired."""


class ReportRequestError(SimulationError):
    """The request body is not a report request we can answer."""
