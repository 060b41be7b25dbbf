"""Browser-like visitors of the estate, behind the load balancer.

``locust -f loadtests/locustfile.py --host http://127.0.0.1:8080`` (with ``python -m harness
up`` running) for the web UI, or ``python -m harness load --scenario NAME`` headless with a
fault timeline and a verdict. Every response is checked (``catch_response``): status 200,
pages in descending order of visits, no token anywhere. A visitor whose publisher changes
reports a ``SESSION moved pX->pY`` event; the harness decides whether that was allowed.
``TOKENSIM_SHAPE=expiry-storm`` adds bursts of users at every token expiry instant.
"""

from __future__ import annotations

import os

from locust import HttpUser, LoadTestShape, between, task

from loadtests.checks import home_page_problem, top_pages_problem


class Visitor(HttpUser):
    """One browser: its own cookie jar (so stickiness applies), think time between pages."""

    wait_time = between(0.2, 1.0)
    publisher: str | None = None

    @task(3)
    def home(self) -> None:
        with self.client.get("/", name="/", catch_response=True) as response:
            problem = home_page_problem(response.status_code, response.headers, response.text)
            self._judge(response, problem)

    @task(2)
    def top_pages(self) -> None:
        with self.client.get("/api/top-pages", name="/api/top-pages", catch_response=True) as r:
            self._judge(r, top_pages_problem(r.status_code, r.headers, r.text))

    def _judge(self, response: object, problem: str | None) -> None:
        if problem is not None:
            response.failure(problem)  # type: ignore[attr-defined]
            return
        response.success()  # type: ignore[attr-defined]
        publisher = response.headers.get("X-Publisher")  # type: ignore[attr-defined]
        if self.publisher is not None and publisher != self.publisher:
            self.environment.events.request.fire(
                request_type="SESSION",
                name=f"moved {self.publisher}->{publisher}",
                response_time=0,
                response_length=0,
                exception=None,
                context={},
            )
        self.publisher = publisher


if os.environ.get("TOKENSIM_SHAPE") == "expiry-storm":

    class ExpiryStorm(LoadTestShape):
        """A base of users, and a burst at every token expiry instant (every ``lifetime``)."""

        lifetime = float(os.environ.get("TOKENSIM_LIFETIME", "10"))
        duration = float(os.environ.get("TOKENSIM_DURATION", "60"))
        base = int(os.environ.get("TOKENSIM_USERS", "20"))
        burst_width = 1.5

        def tick(self) -> tuple[int, float] | None:
            now = self.get_run_time()
            if now >= self.duration:
                return None
            into, half = now % self.lifetime, self.burst_width / 2
            near_expiry = into >= self.lifetime - half or into < half
            users = self.base * 3 if near_expiry and now > self.lifetime / 2 else self.base
            return users, float(users)
