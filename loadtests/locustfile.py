"""Browser-like visitors of the estate, behind the load balancer.

``locust -f loadtests/locustfile.py --host http://127.0.0.1:8080`` (with ``python -m harness
up`` running) for the web UI, or ``python -m harness load --scenario NAME`` headless with a
fault timeline and a verdict. Two user classes with the same behaviour
(:mod:`loadtests.visitors`): ``Visitor`` on ``HttpUser`` and ``FastVisitor`` on
``FastHttpUser`` (less CPU per request); pick one by name on the command line. Options of our
own: ``--shape constant|expiry-storm``, ``--token-lifetime S`` (where the expiry bursts fall),
``--moves-file PATH`` (where the session moves go, as JSON) and ``--think-time MIN,MAX``
(seconds between a visitor's pages; ``0,0`` to find the load generator's ceiling). Locust
sends these to its workers in distributed mode.
"""

from __future__ import annotations

import random
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from locust import FastHttpUser, HttpUser, TaskSet, events, task
from locust.env import Environment

from loadtests.session_moves import SessionMoves
from loadtests.shape import ScenarioShape
from loadtests.visitors import Browsing, Judged

__all__ = ["FastVisitor", "ScenarioShape", "Visitor"]


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _options(parser: Any) -> None:
    parser.add_argument(
        "--shape", choices=["constant", "expiry-storm"], default="constant", help="load shape"
    )
    parser.add_argument(
        "--token-lifetime", type=float, default=10.0, help="seconds between expiry bursts"
    )
    parser.add_argument(
        "--moves-file", default="", include_in_web_ui=False, help="write session moves here"
    )
    parser.add_argument(
        "--think-time",
        default="0.2,1.0",
        help="seconds between a visitor's pages, MIN,MAX (0,0: none)",
    )


def think_time(text: str) -> tuple[float, float]:
    """``MIN,MAX`` seconds, 0 <= MIN <= MAX; what Locust cannot use is refused at start."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--think-time: expected MIN,MAX seconds, got {text!r}") from None
    if not 0 <= low <= high:
        raise ValueError(f"--think-time: expected 0 <= MIN <= MAX, got {text!r}")
    return low, high


@events.init.add_listener  # type: ignore[untyped-decorator]
def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    output = Path(options.moves_file) if options is not None and options.moves_file else None
    environment.session_moves = SessionMoves(environment, output)  # type: ignore[attr-defined]
    if options is not None:
        think_time(options.think_time)  # a bad value stops Locust here, not in every user


def _pause(environment: Environment) -> float:
    options = environment.parsed_options
    low, high = think_time(options.think_time) if options is not None else (0.2, 1.0)
    return random.uniform(low, high)


def _moves(environment: Environment) -> SessionMoves:
    moves = getattr(environment, "session_moves", None)
    assert isinstance(moves, SessionMoves), "the locustfile's init listener did not run"
    return moves


class BrowseSite(TaskSet):
    """What every visitor does, whichever HTTP client its user class has."""

    def on_start(self) -> None:
        self.browsing = Browsing(self._get, _moves(self.user.environment).moved, random.Random())

    def _get(self, path: str, name: str) -> AbstractContextManager[Judged]:
        return self.client.get(path, name=name, catch_response=True)  # type: ignore[no-any-return]

    @task(3)
    def home(self) -> None:
        self.browsing.home()

    @task(2)
    def content_page(self) -> None:
        self.browsing.content_page()

    @task(2)
    def top_pages(self) -> None:
        self.browsing.top_pages()


class Visitor(HttpUser):
    """One browser: its own cookie jar (so stickiness applies), think time between pages."""

    tasks = [BrowseSite]  # noqa: RUF012 (Locust reads it from the class)

    def wait_time(self) -> float:
        return _pause(self.environment)


class FastVisitor(FastHttpUser):
    """The same browser on geventhttpclient (``FastHttpUser``): less CPU per request."""

    tasks = [BrowseSite]  # noqa: RUF012 (Locust reads it from the class)

    def wait_time(self) -> float:
        return _pause(self.environment)
