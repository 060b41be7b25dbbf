"""``python -m core.topology``: print topology.yaml's JSON Schema (``make schema``)."""

from core.topology.loading import json_schema

print(json_schema(), end="")
