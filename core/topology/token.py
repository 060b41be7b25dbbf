"""The ``token`` section: which strategy keeps the cluster's token, and its settings
(refresh windows, backoff, the shared store, replication, the keyring)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from core.topology.fields import (
    Duration,
    EnvName,
    KeyPathError,
    Model,
    ServiceId,
    _resolve_path,
)


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
    strategy: Literal[
        "per-node", "shared", "replicated", "scheduled", "naive", "on-expiry", "node-scheduler"
    ] = Field(
        default="per-node",
        description="per-node: each node its own token; shared: one token for the cluster in a "
        "store, refreshed by the lease holder; replicated: the leader refreshes and pushes to the "
        "followers over HTTP; scheduled: the leader refreshes every schedule_interval whatever "
        "the lifetime, every node uses what it published; naive: the baseline (no proactive "
        "refresh, no single-flight, no persistence); on-expiry: AEM's own IMS integration (a "
        "token in memory, fetched again once expired, one call at a time); node-scheduler: a "
        "scheduler on every node fetches a new token every schedule_interval, kept in memory.",
    )
    store: StoreConfig = StoreConfig()
    replication: ReplicationConfig = ReplicationConfig()
    schedule_interval: Duration = Field(
        default=43200.0,
        description="scheduled (the leader) and node-scheduler (every node): refresh every this "
        "long (e.g. 12h).",
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
