"""The real-world endpoints a node talks to: ``ims`` (the token endpoint) and ``analytics``
(the Reports API). Adobe's are in docs/wire-formats.md; any OAuth2 client-credentials server
works for ``ims``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from core.topology.fields import (
    Duration,
    EnvNames,
    HttpUrl,
    Model,
)


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


class WidgetCacheConfig(Model):
    """How long the caches in front of the publisher may keep the widget's data (the
    edge-cached design): sent as ``Cache-Control: public, max-age, stale-while-revalidate,
    stale-if-error`` and ``Surrogate-Control: max-age`` on the widget's ``.json``."""

    max_age: Duration = Field(default=1800.0, description="Fresh for this long (Adobe: 30 min).")
    stale_while_revalidate: Duration = Field(
        default=1800.0, description="Then served stale this long while one request refreshes it."
    )
    stale_if_error: Duration = Field(
        default=86400.0, description="Served stale this long while the origin fails."
    )

    def cache_control(self) -> str:
        return (
            f"public, max-age={round(self.max_age)}, "
            f"stale-while-revalidate={round(self.stale_while_revalidate)}, "
            f"stale-if-error={round(self.stale_if_error)}"
        )


class AnalyticsConfig(Model):
    """The Analytics 2.0 Reports API the node reads "most visited pages" from."""

    base_url: HttpUrl
    company_id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    rsid: Annotated[str, Field(min_length=1)]
    top: Annotated[int, Field(ge=1, le=1000)] = 10
    report_refresh: Duration = Field(
        default=1800.0,
        description="How often a publisher asks Analytics for the widget's report, on a "
        "schedule: Adobe asks for no more than every 30 min (docs/world.md). 0: on every page "
        "load (the anti-pattern Adobe warns against).",
    )
    report_jitter: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.1,
        description="Each refresh comes up to this fraction of report_refresh later, random "
        "per refresh, so that publishers deployed together do not call in the same second.",
    )
    report_sharing: Literal["per-node", "shared"] = Field(
        default="per-node",
        description="per-node: each node fetches its own report; shared: one node refreshes "
        "the cluster's report under a lease in token.store, the others adopt it (replicated: "
        "the leader pushes it with the token).",
    )
    report_source: Literal["analytics", "published"] = Field(
        default="analytics",
        description="analytics: publishers ask Analytics themselves (with a token each); "
        "published: the author fetches the report and publishes it to every publisher as "
        "content (the author-report design: needs an author section; publishers hold no "
        "client secret and make no IMS or Analytics call).",
    )
    widget_cache: WidgetCacheConfig | None = Field(
        default=None,
        description="edge-cached: the widget's data is fetched when a cache asks for it and "
        "marked cacheable for this long (the CDN and the dispatcher keep it); none: the "
        "publisher's own refresh schedule decides.",
    )
    timeout: Duration = Field(
        default=15.0,
        description="Longest a report call may take: above the latency model's 99.9th "
        "percentile at rest (about 11 s), well below the gateway's own 60 s (docs/world.md).",
    )
    date_range_days: Annotated[int, Field(ge=1, le=366)] = 30

    @property
    def published(self) -> bool:
        """The author-report design: the author fetches the report and publishes it to the
        publishers, which hold no client secret and no token."""
        return self.report_source == "published"

    @property
    def one_report(self) -> bool:
        """The cluster has one report, fetched by one caller at a time: published by the
        author, cached at the edge for every publisher, or shared through the store."""
        return self.published or self.widget_cache is not None or self.report_sharing == "shared"
