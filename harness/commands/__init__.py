"""What each ``python -m harness`` command does, given its parsed arguments and the topology
``__main__`` loaded once; the parser is in :mod:`harness.cli`. Every option arrives here
already in its final type (designs, stickiness, sizes): nothing below parses text again.

One module per command family, imported only when its command runs (as pip loads its
commands, ``pip/_internal/commands/__init__.py``): ``harness up`` does not pay for Locust,
matplotlib or the virtual world, and starts the estate that much sooner.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from core.topology import Topology

Command = Callable[[argparse.Namespace, Topology], int]


# command name -> (module under harness.commands, function)
COMMANDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "up": ("estate", "up_command"),
        "lifecycle": ("estate", "lifecycle_command"),
        "demo": ("demo", "demo_command"),
        "load": ("runs", "load_any"),
        "compare": ("runs", "compare_any"),
        "map": ("map", "map_command"),
    }
)


def command(name: str) -> Command:
    """The function that runs ``name``, its module imported now."""
    module, function = COMMANDS[name]
    found: Command = getattr(importlib.import_module(f"harness.commands.{module}"), function)
    return found
