"""The shared store on a Redis server, for estates larger than one machine.

Same contract as the embedded file store (:mod:`tokensim_token.file_store`): a sealed blob under
``<prefix>:token`` and a lease under ``<prefix>:lease``. Every change is one Lua script, so it is
atomic on the server without client-side locks. The lease records its owner and its expiry on
the node's (injected) wall clock, as the file store does, and also carries a Redis ``PX``
expiry so that a crashed holder's lease disappears from the server on its own.

The blob is already sealed with the cluster keyring; Redis never sees the token.

The server is shared with whatever else can reach it, so nothing read from it is believed as
written: the blob is read with a size bound (``GETRANGE``), and a lease record that is too
large, not a lease, or that expires further ahead than a lease can (more than twice its lease
time from now: room for the nodes' clocks to differ) is treated as absent and replaced, and
the store says so once. A lease is renewed, released or replaced only by its owner (or,
replaced, once it has expired).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from tokensim_token.errors import StoreUnavailable
from tokensim_token.sealing import MAX_SEALED
from tokensim_token.secrets import Secret

logger = logging.getLogger(__name__)

MAX_LEASE = 4096  # bytes: a lease record is a few dozen

# Returns 0: held by another; 1: taken; 2: taken over a record that failed a check.
_TAKE_LEASE = """
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local bad = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[5]) then
    bad = 1
  else
    local ok, holder = pcall(cjson.decode, redis.call('GET', KEYS[1]))
    local expires = ok and type(holder) == 'table' and tonumber(holder.expires)
    if not expires or type(holder.owner) ~= 'string' or expires > now + 2 * ttl then
      bad = 1
    elseif holder.owner ~= ARGV[1] and expires > now then
      return 0
    end
  end
end
local lease = cjson.encode({owner = ARGV[1], expires = now + ttl})
redis.call('SET', KEYS[1], lease, 'PX', ARGV[4])
return 1 + bad
"""

_RELEASE_LEASE = """
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[2]) then
  return 0
end
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
local ok, holder = pcall(cjson.decode, current)
if ok and type(holder) == 'table' and holder.owner == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_REMOVE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@contextlib.contextmanager
def _unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from None


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        wall_clock: Callable[[], float],
        password: Secret | None,
        timeout: float,
    ) -> None:
        self._client = redis.Redis.from_url(
            url,
            password=password.reveal() if password is not None else None,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self._token = f"{prefix}:token"
        self._lease = f"{prefix}:lease"
        self._wall_clock = wall_clock
        self._take = self._client.register_script(_TAKE_LEASE)
        self._release = self._client.register_script(_RELEASE_LEASE)
        self._remove_if = self._client.register_script(_REMOVE_IF)
        self._said_bad_lease = False
        where = urlsplit(url)
        if password is None and not where.password:
            logger.warning(
                "the shared store redis://%s:%s has no password: anything that reaches it "
                "can change the lease and the sealed token (set token.store.password_env)",
                where.hostname,
                where.port or 6379,
            )

    async def get(self) -> bytes | None:
        with _unavailable_on_error():
            # at most one byte more than a sealed token can be: enough to tell, never a huge read
            value = await self._client.getrange(self._token, 0, MAX_SEALED)
        blob = value.encode() if isinstance(value, str) else bytes(value)
        return blob or None  # GETRANGE of a missing key is empty

    async def put(self, blob: bytes) -> None:
        with _unavailable_on_error():
            await self._client.set(self._token, blob)

    async def remove_if(self, blob: bytes) -> None:
        with _unavailable_on_error():
            await self._remove_if(keys=[self._token], args=[blob])

    async def try_lease(self, owner: str, ttl: float) -> bool:
        now = self._wall_clock()
        server_ttl_ms = max(1, math.ceil(ttl * 1000))
        with _unavailable_on_error():
            taken = await self._take(
                keys=[self._lease],
                args=[owner, repr(now), repr(ttl), server_ttl_ms, MAX_LEASE],
            )
        if taken == 2 and not self._said_bad_lease:
            self._said_bad_lease = True
            logger.warning(
                "the shared store held a lease record that is not a valid lease (too large, "
                "malformed, or expiring more than %.0f s ahead): treated as absent",
                2 * ttl,
            )
        return bool(taken)

    async def release_lease(self, owner: str) -> None:
        with _unavailable_on_error():
            await self._release(keys=[self._lease], args=[owner, MAX_LEASE])

    async def close(self) -> None:
        await self._client.aclose()
