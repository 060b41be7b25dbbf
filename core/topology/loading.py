"""Reading topology.yaml: the only place the raw file is read. Anything wrong raises
:class:`TopologyError` whose message names the file, the key path and the problem, e.g.::

    topology.yaml: publishers[1].port: port 8101 is used twice (also by publishers[0].port)

Services turn that into one line on stderr and exit status 2 (see :mod:`core.cli`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from tokensim_token.files import make_private_folder

from core.errors import TopologyError
from core.topology.model import Topology

DEFAULT_PATH = Path("topology.yaml")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key written twice in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            mark = key_node.start_mark
            raise yaml.MarkedYAMLError(
                problem=f"key {key!r} is written twice in the same mapping", problem_mark=mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_topology(path: Path = DEFAULT_PATH) -> Topology:
    """Read, parse and validate topology.yaml; raise :class:`TopologyError` on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError(f"{path}: file not found") from None
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise TopologyError(f"{path}: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise TopologyError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Topology.from_dict(data, base_dir=path.parent.resolve())
    except TopologyError as exc:
        raise TopologyError(f"{path}: {exc}") from None


def json_schema() -> str:
    """The JSON Schema of topology.yaml, for editors (``topology.schema.json``)."""
    schema = Topology.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tokensim topology.yaml"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_topology(topology: Topology, path: Path) -> Path:
    """Write ``topology`` as YAML at ``path`` (for the child processes of a derived estate:
    written once, read by each child with :func:`load_topology`)."""
    make_private_folder(path.parent)  # the state folder: keys and tokens go there too
    text = "# Derived by tokensim from another topology; every value written out.\n"
    path.write_text(text + yaml.safe_dump(topology.model_dump(mode="json"), sort_keys=False))
    return path
