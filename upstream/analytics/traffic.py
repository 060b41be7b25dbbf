"""A deterministic synthetic traffic model: which pages get how many visits, drifting in time.

A few hundred ``/content/site/en/...`` pages share the visits with a Zipf-like spread (the
k-th page gets about 1/k^1.07 of the traffic). Each page's weight swings slowly on its own
phase, one cycle per ``drift_period``, so the ranking changes over time as real traffic does.
A report covers a date range ("the last 30 full days"): its ranking is that of the range's
end, so it changes once a day, when the range moves on, however often it is asked for. The
same (rsid, date range) always gives the same report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass

SECTIONS = (
    "products",
    "solutions",
    "support",
    "blog",
    "news",
    "about",
    "careers",
    "partners",
    "events",
    "docs",
    "pricing",
    "customers",
    "resources",
    "security",
    "community",
)
WORDS = (
    "analytics",
    "commerce",
    "cloud",
    "forms",
    "assets",
    "sites",
    "mobile",
    "search",
    "launch",
    "insights",
    "guide",
    "release",
    "overview",
    "faq",
    "contact",
    "trial",
    "webinar",
    "story",
    "integration",
    "api",
    "pricing",
    "roadmap",
    "summit",
    "team",
    "migration",
    "checklist",
)
ZIPF_EXPONENT = 1.07
DRIFT_AMPLITUDE = 0.8


@dataclass(frozen=True, slots=True)
class PageRow:
    item_id: str
    page: str
    visits: float


class TrafficModel:
    def __init__(self, *, pages: int, daily_visits: int, drift_period: float, seed: int) -> None:
        rng = random.Random(seed)
        self.pages = _page_names(pages, rng)
        self._base = [1.0 / (k + 1) ** ZIPF_EXPONENT for k in range(pages)]
        self._phase = [rng.uniform(0, 2 * math.pi) for _ in range(pages)]
        self._daily = daily_visits
        self._period = max(drift_period, 1.0)
        self._ids = [_item_id(p) for p in self.pages]

    def ranked(self, rsid: str, start: dt.datetime, end: dt.datetime) -> list[PageRow]:
        """Every page with its visits in [start, end), most first."""
        days = max((end - start).total_seconds() / 86400.0, 0.0)
        until = end if end.tzinfo is not None else end.replace(tzinfo=dt.UTC)
        angle = 2 * math.pi * until.timestamp() / self._period
        weights = [
            b * math.exp(DRIFT_AMPLITUDE * math.sin(angle + ph))
            for b, ph in zip(self._base, self._phase, strict=True)
        ]
        scale = self._daily * days * _suite_factor(rsid) / sum(weights)
        rows = [
            PageRow(item_id=i, page=p, visits=float(round(w * scale)))
            for i, p, w in zip(self._ids, self.pages, weights, strict=True)
        ]
        rows.sort(key=lambda r: (-r.visits, r.page))
        return rows


def _page_names(count: int, rng: random.Random) -> list[str]:
    names = ["/content/site/en/home"]
    seen = set(names)
    while len(names) < count:
        section = rng.choice(SECTIONS)
        slug = "-".join(rng.sample(WORDS, k=rng.randint(1, 3)))
        name = f"/content/site/en/{section}/{slug}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _item_id(page: str) -> str:
    return str(int.from_bytes(hashlib.sha256(page.encode()).digest()[:4], "big"))


def _suite_factor(rsid: str) -> float:
    """Report suites differ in size, deterministically."""
    return 0.5 + (int.from_bytes(hashlib.sha256(rsid.encode()).digest()[:2], "big") % 1000) / 1000
