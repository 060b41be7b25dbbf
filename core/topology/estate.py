"""The estate: ``publishers``, ``dispatchers`` (one per publisher), the ``dispatcher`` settings
they share, and the load balancer (``lb``), modelled on AWS ALB (docs/edge.md)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from core.topology.fields import (
    Duration,
    EnvName,
    KeyPathError,
    Model,
    Port,
    ServiceId,
    Size,
)


class PublisherConfig(Model):
    id: ServiceId
    host: str = "127.0.0.1"
    port: Port
    drain: Duration = Field(
        default=0.0, description="On SIGTERM, answer /health 503 this long before stopping."
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def control_plane_address(host: str) -> str:
    """``host`` if it is a loopback or private IP address; ValueError otherwise."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("an IP address (loopback or private), not a name") from None
    if address.is_unspecified or not (address.is_loopback or address.is_private):
        raise ValueError("the control plane listens only on a loopback or private address")
    return host


class CdnConfig(Model):
    """The CDN of AEM as a Cloud Service in front of the balancer (the edge-cached design),
    run by a real caching proxy: Debian's Varnish, configured from this section
    (:mod:`lb.cdn`). Visitors' requests go to it; it keeps what the publisher marks
    cacheable (``Cache-Control``/``Surrogate-Control``) and serves it stale within
    ``stale-while-revalidate`` while refreshing, and within ``stale-if-error`` while the
    origin fails."""

    engine: Literal["varnish"] = "varnish"
    host: str = "127.0.0.1"
    port: Port = 8090
    probe_interval: Duration = Field(
        default=5.0, description="How often the CDN asks the balancer whether it is healthy."
    )
    storage: Annotated[int, Field(ge=8, le=4096)] = Field(
        default=64, description="Megabytes of cache (varnishd -s malloc)."
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


# A control plane's address: loopback or private, never a name that could point elsewhere.
ControlPlaneHost = Annotated[str, AfterValidator(control_plane_address)]


class AuthorConfig(Model):
    """The AEM author of the author-report design: it holds the only client secret, fetches
    the report on Adobe's cadence and replicates it to every publisher, then flushes their
    dispatchers. Its port is a control plane (loopback or private address only)."""

    id: ServiceId = "author"
    host: ControlPlaneHost = "127.0.0.1"
    port: Port
    retry: Duration = Field(
        default=1.0, description="A failed push is retried after this, doubling up to retry_cap."
    )
    retry_cap: Duration = Field(default=60.0, description="The longest wait between retries.")
    flush: bool = Field(
        default=True,
        description="After a publisher acknowledges a report, invalidate its dispatcher's cached "
        "copy (a flush agent's POST /dispatcher/invalidate.cache).",
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class DispatcherConfig(Model):
    id: ServiceId
    host: str = "127.0.0.1"
    port: Port
    publisher: ServiceId

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class CacheRule(Model):
    """One entry of ``/cache/rules``: a glob over the path and whether it may be cached."""

    glob: Annotated[str, Field(min_length=1)]
    type: Literal["allow", "deny"]


class DispatcherCacheConfig(Model):
    """What the dispatcher caches and for how long: AEM's ``/cache`` section, with the rules
    of Experience League KB ka-17497 (docs/world.md)."""

    enabled: bool = True
    rules: tuple[CacheRule, ...] = Field(
        default=(CacheRule(glob="*", type="allow"),),
        description="/cache/rules: the last rule whose glob matches the path decides.",
    )
    enable_ttl: bool = Field(
        default=True,
        description='/enableTTL "1": a reply expires as its Cache-Control max-age or Expires '
        "says; without it a cached file lives until a flush invalidates it.",
    )
    ignore_url_params: tuple[str, ...] = Field(
        default=(),
        description="/ignoreUrlParams: query parameters (globs) that do not stop caching.",
    )
    allow_authorized: bool = Field(
        default=False,
        description="/allowAuthorized: cache requests with Authorization or a login cookie.",
    )
    statfileslevel: Annotated[int, Field(ge=0, le=20)] = Field(
        default=0,
        description="/statfileslevel: a flush touches the .stat files down to this depth; a "
        "cached file is stale when the .stat file nearest to it is newer.",
    )
    invalidate: tuple[str, ...] = Field(
        default=("*.html", "*.json"),
        description="/invalidate: the cached files a flush makes stale (besides the flushed "
        "path itself, which is always removed).",
    )
    max_entries: Annotated[int, Field(ge=1)] = 10_000


class DispatcherSettings(Model):
    """What every dispatcher does (AEM dispatcher.any, reduced to what the estate needs)."""

    allow: tuple[str, ...] = Field(
        default=("/", "/api/top-pages", "/static/*", "/content/**.html", "/content/**.json"),
        description="Allow-list of path globs; anything else is 404 (AEM /filter).",
    )
    cache: DispatcherCacheConfig = DispatcherCacheConfig()
    login_cookie: str = "login-token"
    timeout: Duration = 10.0
    health_timeout: Duration = 2.0
    flush_clients: tuple[str, ...] = Field(
        default=("127.0.0.1", "::1"),
        description="Addresses allowed to invalidate the cache (AEM /allowedClients).",
    )


CookieName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]


class StickyConfig(Model):
    """Duration-based stickiness, as ALB's ``AWSALB`` cookie (docs/edge.md)."""

    enabled: bool = True
    cookie: CookieName = "AWSALB"
    duration: Annotated[Duration, Field(ge=1.0, le=7 * 86400.0)] = Field(
        default=86400.0, description="1 s .. 7 days; ALB's default is 1 day."
    )
    secure: bool = False
    key_env: EnvName | None = Field(
        default=None,
        description="Env var with the cookie key (base64, 32 bytes); default: a generated "
        "0600 file <token.state_dir>/lb-cookie.key.",
    )


class HealthCheckConfig(Model):
    """Active health checks; ALB's defaults: 30 s, 5 s, healthy 5, unhealthy 2."""

    path: Annotated[str, Field(pattern=r"^/")] = "/health"
    interval: Duration = 30.0
    timeout: Duration = 5.0
    healthy_threshold: Annotated[int, Field(ge=1, le=10)] = 5
    unhealthy_threshold: Annotated[int, Field(ge=1, le=10)] = 2

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheckConfig:
        if self.timeout >= self.interval:
            raise KeyPathError(
                "lb.health_check.timeout",
                f"must be shorter than the interval ({self.timeout}s >= {self.interval}s)",
            )
        return self


class AdminListenerConfig(Model):
    """The balancer's control plane (status, metrics, register/deregister) on a listener of its
    own. An ALB has no such thing on its listener: it is never on the public port, and only on
    a loopback or private address."""

    host: ControlPlaneHost = "127.0.0.1"
    port: Port = 8081

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ClientLimitsConfig(Model):
    """What the edge accepts from one client (AWS ALB's quotas; docs/edge.md)."""

    request_line: Size = Field(
        default=16 * 1024, description="Longest request line (ALB: 16 KB); longer: 414."
    )
    header: Size = Field(default=16 * 1024, description="Longest header (ALB: 16 KB); 431.")
    head: Size = Field(
        default=64 * 1024, description="Largest request head (ALB: 64 KB); larger: 431."
    )
    body: Size = Field(
        default=1024 * 1024,
        description="Largest request body the balancer reads (it reads bodies whole); 413.",
    )
    pipelined: Annotated[int, Field(ge=1, le=64)] = Field(
        default=8,
        description="Requests read ahead on one connection while earlier ones are answered; "
        "with body, bounds what one connection can make the balancer hold.",
    )

    @model_validator(mode="after")
    def _bounded(self) -> ClientLimitsConfig:
        for name in ("request_line", "header"):
            if getattr(self, name) > self.head:
                raise KeyPathError(
                    f"lb.limits.{name}", f"must not exceed lb.limits.head ({self.head})"
                )
        if self.body * self.pipelined > PER_CONNECTION_CEILING:
            raise KeyPathError(
                "lb.limits.pipelined",
                f"body x pipelined is {self.body * self.pipelined} bytes per connection; keep it "
                f"under {PER_CONNECTION_CEILING // 1024**2} MiB",
            )
        return self

    @property
    def per_connection(self) -> int:
        """The most one client connection can make the balancer buffer: the requests read
        ahead, and the unparsed bytes it keeps (64 KiB) plus one socket read (256 KiB)."""
        return (self.pipelined + 1) * (self.body + self.head) + 512 * 1024


PER_CONNECTION_CEILING = 64 * 1024 * 1024


class LbConfig(Model):
    host: str = "127.0.0.1"
    port: Port = 8080
    admin: AdminListenerConfig = AdminListenerConfig()
    algorithm: Literal["round_robin", "least_outstanding"] = "round_robin"
    engine: Literal["builtin", "haproxy"] = Field(
        default="builtin",
        description="builtin: tokensim's own balancer; haproxy: a real haproxy process with "
        "the equivalent configuration (python -m lb --emit haproxy prints it).",
    )
    sticky: StickyConfig = StickyConfig()
    health_check: HealthCheckConfig = HealthCheckConfig()
    deregistration_delay: Duration = Field(
        default=300.0, description="Draining time for a deregistered target (ALB: 300 s)."
    )
    timeout: Duration = 30.0
    retry_idempotent: bool = Field(
        default=True,
        description="Retry a GET/HEAD once on another target when the first cannot serve it.",
    )
    header_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=10.0,
        description="A request (head and body) must arrive within this, else 408 and close "
        "(HAProxy's timeout http-request: the slowloris defence).",
    )
    idle_timeout: Annotated[Duration, Field(ge=1.0, le=4000.0)] = Field(
        default=60.0, description="Close a client connection idle this long (ALB: 60 s)."
    )
    max_connections: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=4000,
        description="Client connections at once; beyond it, 503 and close (HAProxy maxconn).",
    )
    limits: ClientLimitsConfig = ClientLimitsConfig()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
