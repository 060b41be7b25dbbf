"""The node's exceptions (outside its token code, which has its own tree in
:mod:`tokensim_token.errors`)::

    NodeError
    ├── NodeStartupError            the node cannot start: a missing secret, a bad keyring, ...
    ├── AnalyticsError              a report could not be fetched (messages hold no token)
    │   ├── AnalyticsUnauthorized   401: the token is invalid, expired or revoked
    │   ├── AnalyticsUnavailable    cannot connect, timed out, or a 5xx reply
    │   ├── AnalyticsThrottled      429: over Analytics' rate limit (not a token problem)
    │   └── AnalyticsBadReply       a reply that is not a report, or another 4xx
    └── ReportUnavailable           no report can be served: the fetch failed, none before
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of the node's errors."""


class NodeStartupError(NodeError):
    """The node cannot start: a missing secret, an unusable keyring, a busy port."""


class AnalyticsError(NodeError):
    """The report could not be fetched. Messages hold no token."""


class AnalyticsUnauthorized(AnalyticsError):
    """401: the token is invalid, expired or revoked."""


class AnalyticsUnavailable(AnalyticsError):
    """Cannot connect, timed out or a 5xx reply."""


class AnalyticsThrottled(AnalyticsError):
    """429: over Analytics' rate limit (12 requests per 6 s per client). Not a token problem:
    it must never trigger a token call."""


class AnalyticsBadReply(AnalyticsError):
    """A reply that is not a report, or a 4xx other than 401 and 429."""


class ReportUnavailable(NodeError):
    """No report can be served: the fetch failed and there is no earlier one."""
