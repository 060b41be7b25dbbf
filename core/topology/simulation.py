"""The simulated outside world: ``simulation.ims`` and ``simulation.analytics`` (where they
listen, what they grant, the faults they inject) and their state folder."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from core.topology.fields import (
    Duration,
    EnvNames,
    KeyPathError,
    Model,
    Port,
    Probability,
    _resolve_path,
)


class FaultsConfig(Model):
    """Faults a simulated service injects; all can be changed at run time via /admin/faults."""

    outage: bool = False
    error_rate: Probability = 0.0
    error_status: Annotated[int, Field(ge=500, le=599)] = 503
    latency: Duration = 0.0
    throttle_rate: Probability = 0.0
    retry_after: Duration = 5.0
    malformed_rate: Probability = 0.0


TOKEN_PATH = "/ims/token/v3"  # noqa: S105 (a path: Adobe IMS's server-to-server token endpoint)


class SimulatedImsConfig(Model):
    host: str = "127.0.0.1"
    port: Port = 8701
    expires_in: Annotated[int, Field(ge=1)] = Field(
        default=30, description="Lifetime granted, seconds. The real IMS grants 86399."
    )
    client_secret_env: EnvNames | None = Field(
        default=None,
        description="Secrets the simulated IMS accepts; default: ims.client_secret_env.",
    )
    scopes: tuple[str, ...] = (
        "openid",
        "AdobeID",
        "read_organizations",
        "additional_info.projectedProductContext",
        "additional_info.roles",
    )
    faults: FaultsConfig = FaultsConfig()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH


class RateLimitConfig(Model):
    """Analytics 2.0's rate limit, as Adobe documents it (docs/wire-formats.md): 12 requests
    every 6 seconds per user, the user being the OAuth client (``x-api-key``), so every node
    that uses one client shares one budget; over it, 429 with ``{"error_code": "429050"}``
    and no Retry-After."""

    enabled: bool = True
    requests: Annotated[int, Field(ge=1)] = 12
    per: Annotated[Duration, Field(gt=0)] = 6.0
    scope: Literal["client", "token"] = Field(
        default="client",
        description="client: one budget per x-api-key (Adobe's); token: one per access token.",
    )


class LatencyConfig(Model):
    """How long a report takes, as Adobe's staff describe it (docs/world.md): log-normal with
    a median of about a second and a tail to several seconds at rest, slower when many
    requests hit one report suite at once (queueing, no error), cut by the gateway at 60 s."""

    enabled: bool = True
    median: Annotated[Duration, Field(gt=0)] = 1.0
    p99: Annotated[Duration, Field(gt=0)] = Field(
        default=6.0, description="99th percentile with nothing else in flight."
    )
    per_concurrent: Annotated[float, Field(ge=0.0)] = Field(
        default=0.5,
        description="Each request already in flight on the same report suite makes a new one "
        "this fraction of its latency slower.",
    )
    gateway_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=60.0, description="Adobe's gateway answers 504 after this."
    )

    @model_validator(mode="after")
    def _tail_above_median(self) -> LatencyConfig:
        if self.p99 < self.median:
            raise KeyPathError(
                "simulation.analytics.latency.p99",
                f"must not be below the median ({self.median}s), got {self.p99}s",
            )
        return self


class SimulatedAnalyticsConfig(Model):
    host: str = "127.0.0.1"
    port: Port = 8702
    pages: Annotated[int, Field(ge=10, le=10000)] = 300
    daily_visits: Annotated[int, Field(ge=1)] = 50_000
    drift_period: Duration = Field(
        default=30 * 86400.0,
        description="How fast the ranking of pages drifts (one full cycle). A report over "
        "the last full days changes once a day, when its date range moves on.",
    )
    seed: int = 1
    rate_limit: RateLimitConfig = RateLimitConfig()
    latency: LatencyConfig = LatencyConfig()
    faults: FaultsConfig = FaultsConfig()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SimulationConfig(Model):
    state_dir: str = Field(default=".state/sim", validate_default=True)
    ims: SimulatedImsConfig = SimulatedImsConfig()
    analytics: SimulatedAnalyticsConfig = SimulatedAnalyticsConfig()

    _paths = field_validator("state_dir")(_resolve_path)
