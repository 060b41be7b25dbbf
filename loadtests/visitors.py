"""What one browser does on the site, and how each answer is judged: the behaviour shared by
the two user classes of the locustfile (``HttpUser`` and the faster ``FastHttpUser``).

A visitor opens the home page (``/content/site/en.html``), whose "most visited pages" component
then fetches its data (``/content/site/en/top-pages.json``) as a browser does; follows one of
its links to a content page now and then; think time between pages. Every response is
checked (status, pages in order, no token anywhere); a response from another publisher than
the visitor's last one is a session move, counted apart (:mod:`loadtests.session_moves`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from loadtests.checks import (
    content_page_problem,
    home_page_problem,
    pages_of,
    top_pages_problem,
)

HOME = "/content/site/en.html"
WIDGET = "/content/site/en/top-pages.json"


class Judged(Protocol):
    """What both Locust clients' ``catch_response`` responses offer."""

    status_code: int
    text: str | None

    @property
    def headers(self) -> Mapping[str, str]: ...

    def success(self) -> None: ...

    def failure(self, exc: object) -> None: ...


Get = Callable[[str, str], AbstractContextManager[Judged]]


class Browsing:
    """One visitor's state: its last publisher and the links of the last home page."""

    def __init__(self, get: Get, moved: Callable[[str, str], None], rng: random.Random) -> None:
        self._get = get
        self._moved = moved
        self._rng = rng
        self.publisher: str | None = None
        self.links: list[str] = []

    def home(self) -> None:
        with self._get(HOME, HOME) as response:
            text = response.text or ""
            page = self._judge(
                response, home_page_problem(response.status_code, response.headers, text)
            )
        if page:
            self.top_pages()  # what the page's component fetches next

    def content_page(self) -> None:
        if not self.links:
            return self.home()
        path = self._rng.choice(self.links)
        with self._get(path, "/content/[page].html") as response:
            text = response.text or ""
            self._judge(
                response, content_page_problem(response.status_code, response.headers, text)
            )
        return None

    def top_pages(self) -> None:
        with self._get(WIDGET, WIDGET) as response:
            text = response.text or ""
            problem = top_pages_problem(response.status_code, response.headers, text)
            # Through a CDN the widget's data is one public copy (its cookies dropped): which
            # publisher made it says nothing about the visitor's session.
            shared = "X-CDN" in response.headers
            if self._judge(response, problem, shared=shared):
                self.links = [f"{page}.html" for page in pages_of(text)]

    def _judge(self, response: Judged, problem: str | None, *, shared: bool = False) -> bool:
        if problem is not None:
            response.failure(problem)
            return False
        response.success()
        if shared:
            return True  # one copy for every visitor, made by some publisher: not a session
        publisher = response.headers.get("X-Publisher")
        if publisher and self.publisher is not None and publisher != self.publisher:
            self._moved(self.publisher, publisher)
        self.publisher = publisher or self.publisher
        return True
