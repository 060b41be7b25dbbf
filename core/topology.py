"""topology.yaml, parsed once into frozen, typed objects that every service imports.

``load_topology(path)`` is the only place the raw file is read. Anything wrong with it raises
:class:`TopologyError` whose message names the file, the key path and the problem, e.g.::

    topology.yaml: publishers[1].port: port 8101 is used twice (also by publishers[0].port)

Services turn that into one line on stderr and exit status 2 (see :mod:`core.cli`).
Durations are written ``30s``, ``5m``, ``24h`` (a bare number is seconds). Secrets are never
in this file: it names the environment variables or key files that hold them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.durations import parse_duration
from core.secrets import ENV_NAME
from core.sizes import parse_size

DEFAULT_PATH = Path("topology.yaml")


class TopologyError(Exception):
    """topology.yaml cannot be used; the message names the key path and the problem."""


class KeyPathError(ValueError):
    """A cross-field problem found after parsing, attached to the key path it concerns."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


# --- field types --------------------------------------------------------------------------

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)?$"},
            ],
            "description": "A duration: 30s, 5m, 24h, 250ms; a bare number is seconds.",
        }
    ),
]
Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\d+\s*([KkMm][Ii]?)?[Bb]?$"},
            ],
            "description": "A size: 16KB, 64KiB, 1MB; a bare number is bytes.",
        }
    ),
]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Port = Annotated[int, Field(ge=1, le=65535)]
ServiceId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
EnvName = Annotated[str, Field(pattern=ENV_NAME.pattern)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]


def _one_or_many(value: object) -> object:
    return (value,) if isinstance(value, str) else value


EnvNames = Annotated[tuple[EnvName, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


class Model(BaseModel):
    """Base of every config object: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _resolve_path(value: str | None, info: ValidationInfo) -> str | None:
    """Relative paths in topology.yaml are relative to the file's own folder."""
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or base is None else Path(base) / path)


# --- the real-world endpoints the node talks to --------------------------------------------


class ImsConfig(Model):
    """The OAuth2 client-credentials endpoint (Adobe IMS ``/ims/token/v3`` or any other)."""

    token_url: HttpUrl
    client_id: Annotated[str, Field(min_length=1)]
    client_secret_env: EnvNames = Field(
        description="Environment variable(s) holding the client secret; several = rotation, "
        "tried in order on invalid_client."
    )
    scope: Annotated[str, Field(min_length=1)]
    timeout: Duration = 10.0


class AnalyticsConfig(Model):
    """The Analytics 2.0 Reports API the node reads "most visited pages" from."""

    base_url: HttpUrl
    company_id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    rsid: Annotated[str, Field(min_length=1)]
    top: Annotated[int, Field(ge=1, le=1000)] = 10
    cache_ttl: Duration = 60.0
    timeout: Duration = 5.0
    date_range_days: Annotated[int, Field(ge=1, le=366)] = 30


# --- the token strategy ----------------------------------------------------------------------


class RetryConfig(Model):
    """Backoff after a failed token call: capped exponential with full jitter."""

    base: Duration = 1.0
    cap: Duration = 60.0
    config_error_interval: Duration = Field(
        default=300.0,
        description="How long to wait after invalid_client/invalid_scope before trying again.",
    )


RedisUrl = Annotated[str, Field(pattern=r"^rediss?://[^\s/]+(/\d+)?$")]


class StoreConfig(Model):
    """Where ``shared`` and ``scheduled`` keep the cluster's one token and the refresh lease."""

    kind: Literal["file", "redis"] = Field(
        default="file",
        description="file: sealed file + flock lease in <state_dir>/shared (one machine or a "
        "shared volume); redis: a Redis server every node reaches.",
    )
    url: RedisUrl | None = Field(
        default=None, description="redis: e.g. redis://127.0.0.1:6379/0 (no password here)."
    )
    password_env: EnvName | None = Field(
        default=None, description="redis: environment variable holding the password, if any."
    )
    key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9:_.-]{1,64}$")] = "tokensim"
    timeout: Duration = Field(default=2.0, description="redis: connect and reply timeout.")

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StoreConfig:
        if self.kind == "redis" and self.url is None:
            raise KeyPathError(
                "token.store.url", "kind redis needs a url, e.g. redis://host:6379/0"
            )
        if self.url is not None and "@" in self.url:
            raise KeyPathError(
                "token.store.url",
                "no credentials in the url: name them in token.store.password_env",
            )
        return self


class ReplicationConfig(Model):
    """``replicated``: how the leader's pushes reach the followers (like content replication)."""

    lag: Duration = Field(default=0.0, description="Delay before each push is delivered.")
    loss: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.0, description="Probability that a push to a follower is lost."
    )
    fallback: Literal["fetch", "wait"] = Field(
        default="fetch",
        description="What a follower does when its replicated token reaches the expiry margin "
        "with no newer one pushed: fetch its own, or wait for the leader's next push.",
    )


class TokenConfig(Model):
    strategy: Literal["per-node", "shared", "replicated", "scheduled", "naive"] = Field(
        default="per-node",
        description="per-node: each node its own token; shared: one token for the cluster in a "
        "store, refreshed by the lease holder; replicated: the leader refreshes and pushes to the "
        "followers over HTTP; scheduled: the leader refreshes every schedule_interval whatever "
        "the lifetime, every node uses what it published; naive: the baseline (no proactive "
        "refresh, no single-flight, no persistence).",
    )
    store: StoreConfig = StoreConfig()
    replication: ReplicationConfig = ReplicationConfig()
    schedule_interval: Duration = Field(
        default=43200.0, description="scheduled: refresh every this long (e.g. 12h)."
    )
    leader: ServiceId | None = Field(
        default=None,
        description="replicated and scheduled: the publisher that refreshes; default the first.",
    )
    state_dir: str = Field(default=".state", validate_default=True)
    refresh_at: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        default=0.5, description="Fraction of the lifetime at which to refresh (MSAL: 0.5)."
    )
    refresh_jitter: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.1, description="Random extra delay, as a fraction of the lifetime, per node."
    )
    expiry_margin: Duration = Field(
        default=300.0,
        description="Mandatory window before expiry (MSAL: 300 s); capped at a fifth of the "
        "lifetime so short simulated lifetimes still work.",
    )
    wait_timeout: Duration = Field(
        default=10.0, description="Longest a user request waits for a token call."
    )
    retry: RetryConfig = RetryConfig()
    lease_ttl: Duration = Field(
        default=15.0,
        description="shared: how long the refresh lease lasts, so a crashed holder cannot "
        "block the cluster for longer; keep it above ims.timeout.",
    )
    peer_poll: Duration = Field(
        default=1.0, description="shared: how soon to look again while another node refreshes."
    )
    key_file: str | None = Field(
        default=None,
        description="Keyring file (JSON); default <state_dir>/keyring.json, created 0600.",
    )
    key_env: EnvName | None = Field(
        default=None, description="Environment variable holding the keyring JSON instead."
    )

    _paths = field_validator("state_dir", "key_file")(_resolve_path)

    @model_validator(mode="after")
    def _windows_fit(self) -> TokenConfig:
        if self.refresh_at + self.refresh_jitter >= 1.0:
            raise KeyPathError(
                "token.refresh_jitter",
                f"refresh_at + refresh_jitter must stay below 1 (the token's expiry), got "
                f"{self.refresh_at} + {self.refresh_jitter}",
            )
        return self

    @property
    def keyring_path(self) -> Path:
        return Path(self.key_file) if self.key_file else Path(self.state_dir) / "keyring.json"


# --- the estate ------------------------------------------------------------------------------


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


class DispatcherConfig(Model):
    id: ServiceId
    host: str = "127.0.0.1"
    port: Port
    publisher: ServiceId

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class DispatcherSettings(Model):
    """What every dispatcher does (AEM dispatcher.any, reduced to what the estate needs)."""

    allow: tuple[str, ...] = Field(
        default=("/", "/api/top-pages", "/static/*"),
        description="Allow-list of path globs; anything else is 404 (AEM /filter).",
    )
    cache_ttl: Duration = Field(default=5.0, description="0 = do not cache.")
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

    host: str = "127.0.0.1"
    port: Port = 8081

    @field_validator("host")
    @classmethod
    def _not_public(cls, host: str) -> str:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("an IP address (loopback or private), not a name") from None
        if address.is_unspecified or not (address.is_loopback or address.is_private):
            raise ValueError(
                "the control plane listens only on a loopback or private address"
            ) from None
        return host

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


# --- the simulated outside world -------------------------------------------------------------


class FaultsConfig(Model):
    """Faults a simulated service injects; all can be changed at run time via /admin/faults."""

    outage: bool = False
    error_rate: Probability = 0.0
    error_status: Annotated[int, Field(ge=500, le=599)] = 503
    latency: Duration = 0.0
    throttle_rate: Probability = 0.0
    retry_after: Duration = 5.0
    malformed_rate: Probability = 0.0


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


class SimulatedAnalyticsConfig(Model):
    host: str = "127.0.0.1"
    port: Port = 8702
    pages: Annotated[int, Field(ge=10, le=10000)] = 300
    daily_visits: Annotated[int, Field(ge=1)] = 50_000
    drift_period: Duration = Field(
        default=600.0, description="How fast the ranking of pages drifts (one full cycle)."
    )
    seed: int = 1
    faults: FaultsConfig = FaultsConfig()


class SimulationConfig(Model):
    state_dir: str = Field(default=".state/sim", validate_default=True)
    ims: SimulatedImsConfig = SimulatedImsConfig()
    analytics: SimulatedAnalyticsConfig = SimulatedAnalyticsConfig()

    _paths = field_validator("state_dir")(_resolve_path)


# --- the whole file --------------------------------------------------------------------------


class Topology(Model):
    """Everything in topology.yaml. Build it with :func:`load_topology` or :meth:`from_dict`."""

    ims: ImsConfig
    analytics: AnalyticsConfig
    # Defaults are validated too, so their relative paths resolve against the file's folder.
    token: TokenConfig = Field(default_factory=dict, validate_default=True)
    publishers: Annotated[tuple[PublisherConfig, ...], Field(min_length=1)]
    dispatchers: tuple[DispatcherConfig, ...] = ()
    dispatcher: DispatcherSettings = DispatcherSettings()
    lb: LbConfig | None = None
    simulation: SimulationConfig = Field(default_factory=dict, validate_default=True)

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        _check_unique_ids(self)
        _check_ports(self)
        _check_references(self)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None) -> Topology:
        """Validate a mapping; raise :class:`TopologyError` naming the first bad key path."""
        try:
            return cls.model_validate(data, context={"base_dir": base_dir})
        except ValidationError as exc:
            raise TopologyError(_describe(exc, cls)) from None

    def dispatcher_of(self, dispatcher_id: str) -> DispatcherConfig:
        for dispatcher in self.dispatchers:
            if dispatcher.id == dispatcher_id:
                return dispatcher
        known = ", ".join(d.id for d in self.dispatchers) or "none"
        raise TopologyError(
            f"--id: no dispatcher {dispatcher_id!r} in the topology (known: {known})"
        )

    def publisher(self, node_id: str) -> PublisherConfig:
        for publisher in self.publishers:
            if publisher.id == node_id:
                return publisher
        known = ", ".join(p.id for p in self.publishers)
        raise TopologyError(f"--id: no publisher {node_id!r} in the topology (known: {known})")


def _check_unique_ids(topo: Topology) -> None:
    seen: dict[str, str] = {}
    for path, service_id in _ids(topo):
        if service_id in seen:
            raise KeyPathError(path, f"duplicate id {service_id!r} (also {seen[service_id]})")
        seen[service_id] = path


def _ids(topo: Topology) -> Iterator[tuple[str, str]]:
    for i, p in enumerate(topo.publishers):
        yield f"publishers[{i}].id", p.id
    for i, d in enumerate(topo.dispatchers):
        yield f"dispatchers[{i}].id", d.id


def _check_ports(topo: Topology) -> None:
    seen: dict[tuple[str, int], str] = {}
    for path, host, port in _listeners(topo):
        key = ("*" if host in ("0.0.0.0", "::") else host, port)  # noqa: S104 (comparison only)
        clash = seen.get(key) or seen.get(("*", port))
        if clash:
            raise KeyPathError(path, f"port {port} is used twice (also by {clash})")
        seen[key] = path


def _listeners(topo: Topology) -> Iterator[tuple[str, str, int]]:
    sim = topo.simulation
    yield "simulation.ims.port", sim.ims.host, sim.ims.port
    yield "simulation.analytics.port", sim.analytics.host, sim.analytics.port
    for i, p in enumerate(topo.publishers):
        yield f"publishers[{i}].port", p.host, p.port
    for i, d in enumerate(topo.dispatchers):
        yield f"dispatchers[{i}].port", d.host, d.port
    if topo.lb is not None:
        yield "lb.port", topo.lb.host, topo.lb.port
        yield "lb.admin.port", topo.lb.admin.host, topo.lb.admin.port


def _check_references(topo: Topology) -> None:
    known = [p.id for p in topo.publishers]
    if topo.token.leader is not None and topo.token.leader not in known:
        raise KeyPathError(
            "token.leader",
            f"no publisher with id {topo.token.leader!r} (known: {', '.join(known)})",
        )
    for i, d in enumerate(topo.dispatchers):
        if d.publisher not in known:
            raise KeyPathError(
                f"dispatchers[{i}].publisher",
                f"no publisher with id {d.publisher!r} (known: {', '.join(known)})",
            )


# --- loading and error messages --------------------------------------------------------------


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


def _describe(exc: ValidationError, root: type[BaseModel]) -> str:
    errors = exc.errors()
    first = errors[0]
    message = _message(first, root)
    more = len(errors) - 1
    return message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _message(error: Any, root: type[BaseModel]) -> str:
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyPathError):
        return f"{cause.path}: {cause}"
    loc = tuple(error["loc"])
    path = _format_loc(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key{_suggestion(root, loc)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    text = re.sub(r"^(Value error|Assertion failed), ", "", error["msg"])
    return f"{path}: {text}, got {_short(error.get('input'))}"


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not re.match(r"^[A-Za-z_][\w-]*$", str(part)):
            continue  # pydantic's internal tags (e.g. 'function-before[...]')
        else:
            out += f".{part}" if out else str(part)
    return out


def _suggestion(root: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Walk the models along ``loc`` to suggest the key that was probably meant."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = _model_of(field.annotation)
    known = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"


def _model_of(annotation: Any) -> Any:
    for arg in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _model_of(arg) if getattr(arg, "__args__", None) else None
        if inner is not None:
            return inner
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def json_schema() -> str:
    """The JSON Schema of topology.yaml, for editors (``topology.schema.json``)."""
    schema = Topology.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tokensim topology.yaml"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(json_schema(), end="")
