"""What every response a browser gets must satisfy. Pure functions: used by the Locust users
and unit-tested on their own."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def leaked_token(headers: Mapping[str, str], body: str) -> bool:
    """Whether anything that looks like an IMS token (a JWT) is in the headers or the body.

    Cookies are headers (``Set-Cookie``), so they are covered too.
    """
    if JWT.search(body):
        return True
    return any(JWT.search(value) or "access_token" in value for value in headers.values())


def refused(status: int, headers: Mapping[str, str]) -> str:
    """A reply that is not a 200, and who made it, from the tags each tier adds (headers
    only: a body is never quoted into a failure, which ends up in the report)."""
    if publisher := headers.get("X-Publisher"):
        return f"status {status} from publisher {publisher}"
    if dispatcher := headers.get("X-Dispatcher"):
        return f"status {status} from dispatcher {dispatcher}"
    return f"status {status} from the balancer"


def top_pages_problem(status: int, headers: Mapping[str, str], body: str) -> str | None:
    """None if the component's data (or ``/api/top-pages``) answered as it must."""
    if leaked_token(headers, body) or "access_token" in body:
        return "token leaked in the response"
    if status != 200:
        return refused(status, headers)
    try:
        document = json.loads(body)
        visits = [page["visits"] for page in document["pages"]]
    except (ValueError, KeyError, TypeError):
        return "not a top-pages document"
    if not visits:
        return "no pages"
    if visits != sorted(visits, reverse=True):
        return "pages not in descending order of visits"
    if headers.get("X-Publisher") != document.get("node"):
        return "X-Publisher does not match the node in the body"
    return None


WIDGET_MARK = 'id="top-pages" data-src="'


def home_page_problem(status: int, headers: Mapping[str, str], body: str) -> str | None:
    """None if the home page answered as it must (the page with its component), else what is
    wrong; the component's data is judged by :func:`top_pages_problem`."""
    if leaked_token(headers, body):
        return "token leaked in the response"
    if status != 200:
        return refused(status, headers)
    if WIDGET_MARK not in body:
        return "no most-visited-pages component on the home page"
    return None


def pages_of(body: str) -> list[str]:
    """The pages a top-pages document lists (empty when it is not one)."""
    try:
        return [str(page["page"]) for page in json.loads(body)["pages"]]
    except (ValueError, KeyError, TypeError):
        return []


def content_page_problem(status: int, headers: Mapping[str, str], body: str) -> str | None:
    """None if a content page (a link of the home page) answered as it must."""
    if leaked_token(headers, body):
        return "token leaked in the response"
    if status != 200:
        return refused(status, headers)
    if "<h1>" not in body:
        return "not a page"
    return None
