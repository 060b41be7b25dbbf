"""topology.yaml, parsed once into frozen, typed objects that every service imports.

``load_topology(path)`` is the only place the raw file is read (:mod:`.loading`); anything wrong
with it raises :class:`TopologyError` naming the key paths. The models are in :mod:`.fields`
(field types, the base model), :mod:`.endpoints`, :mod:`.token`, :mod:`.estate` and
:mod:`.simulation` (the sections) and :mod:`.model` (the whole file, its consistency checks and
the copies derived from it). Durations are written ``30s``, ``5m``, ``24h``; sizes ``16KB``.
Secrets are never in this file: it names the environment variables or key files that hold them.
"""

from core.errors import TopologyError
from core.topology.endpoints import AnalyticsConfig, ImsConfig, WidgetCacheConfig
from core.topology.estate import (
    AdminListenerConfig,
    AuthorConfig,
    CacheRule,
    CdnConfig,
    ClientLimitsConfig,
    DispatcherCacheConfig,
    DispatcherConfig,
    DispatcherSettings,
    HealthCheckConfig,
    LbConfig,
    PublisherConfig,
    StickyConfig,
)
from core.topology.fields import KeyPathError, Model
from core.topology.loading import DEFAULT_PATH, json_schema, load_topology, write_topology
from core.topology.model import Topology
from core.topology.simulation import (
    FaultsConfig,
    LatencyConfig,
    RateLimitConfig,
    SimulatedAnalyticsConfig,
    SimulatedImsConfig,
    SimulationConfig,
)
from core.topology.token import ReplicationConfig, RetryConfig, StoreConfig, TokenConfig

__all__ = [
    "DEFAULT_PATH",
    "AdminListenerConfig",
    "AnalyticsConfig",
    "AuthorConfig",
    "CacheRule",
    "CdnConfig",
    "ClientLimitsConfig",
    "DispatcherCacheConfig",
    "DispatcherConfig",
    "DispatcherSettings",
    "FaultsConfig",
    "HealthCheckConfig",
    "ImsConfig",
    "KeyPathError",
    "LatencyConfig",
    "LbConfig",
    "Model",
    "PublisherConfig",
    "RateLimitConfig",
    "ReplicationConfig",
    "RetryConfig",
    "SimulatedAnalyticsConfig",
    "SimulatedImsConfig",
    "SimulationConfig",
    "StickyConfig",
    "StoreConfig",
    "TokenConfig",
    "Topology",
    "TopologyError",
    "WidgetCacheConfig",
    "json_schema",
    "load_topology",
    "write_topology",
]
