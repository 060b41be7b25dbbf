"""The core's exceptions, one tree::

    SetupError              a program cannot start as it is set up: one line, exit status 2
    ├── TopologyError       topology.yaml cannot be used; the message names the key paths
    ├── MissingSecretError  none of the environment variables meant to hold a secret is set
    └── PortInUseError      the port a service is to listen on is taken

(``core.topology.KeyPathError`` is a ValueError raised inside validation, where pydantic turns
it into a part of a TopologyError's message.)
"""

from __future__ import annotations


class SetupError(Exception):
    """Base of the core's errors: the program cannot start as it is set up."""


class TopologyError(SetupError):
    """topology.yaml cannot be used; the message names the key path and the problem."""


class MissingSecretError(SetupError):
    """None of the environment variables that should hold a secret is set."""


class PortInUseError(SetupError):
    """The service's port is taken by another process."""
