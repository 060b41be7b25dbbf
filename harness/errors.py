"""The harness's exceptions; ``python -m harness`` prints one line and exits 1 for each::

HarnessError
├── StartupError      a service could not start: its port is taken, it exited, or it never
│                     became healthy
├── NotOurEstate      the run needs an estate the harness starts (or one on --hosts)
├── HostsUnavailable  network namespaces cannot be made here (no root, no iproute2)
└── DesignError       (also a ValueError) a design spec that cannot be run
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of the harness's errors."""


class StartupError(HarnessError):
    """A service could not start: its port is taken, it exited, or it never became healthy."""


class NotOurEstate(HarnessError):
    """The run needs an estate the harness starts itself (or one on hosts of its own)."""


class HostsUnavailable(HarnessError):
    """Network namespaces cannot be created here."""


class DesignError(HarnessError, ValueError):
    """A design spec that cannot be run; the message says what is accepted."""
