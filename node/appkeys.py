"""The node application's keys: what its handlers find in ``request.app``."""

from __future__ import annotations

from aiohttp import web
from tokensim_token import TokenProvider

from core.control_plane import ControlPlaneGuard
from core.topology import Topology
from node import render
from node.metrics import NodeMetrics
from node.reports import Reports

NODE_ID = web.AppKey("node_id", str)
TOKENS = web.AppKey("tokens", TokenProvider)
REPORTS = web.AppKey("reports", Reports)
METRICS = web.AppKey("metrics", NodeMetrics)
RENDERED = web.AppKey("rendered", render.RenderedReports)
GUARD = web.AppKey("control_plane_guard", ControlPlaneGuard)
TOPOLOGY = web.AppKey("topology", Topology)
