"""The built-in balancer and HAProxy, given the same raw requests in front of the same
dispatchers: the same class of outcome (2xx, 4xx, 5xx, or a close with no response) for each,
or a written reason why ours differs (``DIFFERENCES``).

HAProxy runs the configuration ``python -m lb --emit haproxy`` prints for the same topology
(lb/haproxy_config.py), with its client limits: a difference found here is either a bug in our
balancer, a gap in that configuration, or a documented choice.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lb.main import find_haproxy
from tests.support.edge import RawReply, edge_estate, exchange, haproxy_in_front_of
from tests.support.edge_corpus import CORPUS, Case

pytestmark = pytest.mark.skipif(
    find_haproxy() is None and not os.environ.get("TOKENSIM_REQUIRE_HAPROXY"),
    reason="haproxy is not installed",
)

# name -> (ours, HAProxy's, why ours differs). docs/edge.md explains each at more length.
DIFFERENCES: dict[str, tuple[str, str, str]] = {
    "header-17kb": (
        "4xx",
        "2xx",
        "ALB refuses a single header over 16 KB (431) and so does ours; HAProxy has no "
        "per-header limit below its buffer (the generated config sizes it for ALB's 64 KB "
        "head), and the hops behind a balancer now take what it admits (docs/security.md)",
    ),
    "absolute-form": (
        "2xx",
        "4xx",
        "ours sends it on in origin form with Host from the target (RFC 9112 3.2.2); HAProxy "
        "passes the absolute form on, and the dispatcher's filter refuses a path that does not "
        "start with '/'",
    ),
    "cl-and-te": (
        "4xx,close",
        "2xx,close",
        "RFC 9112 6.3: 'ought to be handled as an error'; ours refuses it (ALB's strictest "
        "desync mode), HAProxy drops Content-Length and forwards it chunked",
    ),
    "bare-lf": (
        "4xx",
        "2xx",
        "RFC 9112 2.2 lets a recipient accept a bare LF; ours refuses it (llhttp strict), "
        "as parsers that disagree on line ends are a smuggling vector",
    ),
    "obs-fold": (
        "4xx",
        "2xx",
        "RFC 9112 5.2 lets a server reject obs-fold with 400 or unfold it; ours rejects, "
        "HAProxy unfolds",
    ),
    "websocket-upgrade": (
        "5xx",
        "4xx",
        "ours does not relay WebSockets (501); HAProxy passes the upgrade on and the "
        "dispatcher, which does not switch protocols, refuses it",
    ),
    "connect": (
        "5xx",
        "4xx",
        "CONNECT is for forward proxies: ours answers 501 Not Implemented (RFC 9110 15.6.2), "
        "HAProxy 400",
    ),
}


def outcome(replies: list[RawReply], expected: int) -> str:
    """The class of each reply, e.g. ``2xx,2xx,close``."""
    names = {0: "close", -1: "hang"}
    classes = [names.get(r.status) or f"{r.status // 100}xx" for r in replies]
    classes += ["close"] * (expected - len(classes))
    return ",".join(classes)


async def outcomes(url: str, cases: tuple[Case, ...]) -> dict[str, str]:
    return {
        case.name: outcome(
            await exchange(url, case.data, replies=case.replies, heads=case.heads, timeout=3),
            case.replies,
        )
        for case in cases
    }


@pytest.mark.timeout(120)
async def test_the_builtin_balancer_answers_as_haproxy_does(tmp_path: Path) -> None:
    assert len(CORPUS) >= 40
    async with edge_estate(tmp_path) as estate:
        ours = await outcomes(estate.url, CORPUS)
        async with haproxy_in_front_of(estate, tmp_path) as haproxy:
            theirs = await outcomes(haproxy, CORPUS)
    table = "\n".join(f"{n:28} ours {ours[n]:16} haproxy {theirs[n]}" for n in ours)
    unexplained = [
        n
        for n in ours
        if ours[n] != theirs[n] and DIFFERENCES.get(n, ("", "", ""))[:2] != (ours[n], theirs[n])
    ]
    stale = [n for n, (o, t, _) in DIFFERENCES.items() if (ours[n], theirs[n]) != (o, t)]
    assert not unexplained, f"differences without a reason: {unexplained}\n{table}"
    assert not stale, f"documented differences that changed: {stale}\n{table}"
