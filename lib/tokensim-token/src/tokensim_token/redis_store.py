"""The shared store on a Redis server, for estates larger than one machine.

Same contract as the embedded file store (:mod:`tokensim_token.file_store`): a sealed blob under
``<prefix>:token`` and a lease under ``<prefix>:lease``. Every change is one Lua script, so it is
atomic on the server without client-side locks. The lease records its owner and its expiry on
the node's (injected) wall clock, as the file store does, and also carries a Redis ``PX``
expiry so that a crashed holder's lease disappears from the server on its own.

The blob is already sealed with the cluster keyring; Redis never sees the token.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import redis.asyncio as redis
from redis.exceptions import RedisError

from tokensim_token.errors import StoreUnavailable
from tokensim_token.secrets import Secret

_TAKE_LEASE = """
local current = redis.call('GET', KEYS[1])
if current then
  local holder = cjson.decode(current)
  if holder.owner ~= ARGV[1] and tonumber(holder.expires) > tonumber(ARGV[2]) then
    return 0
  end
end
local lease = cjson.encode({owner = ARGV[1], expires = tonumber(ARGV[2]) + tonumber(ARGV[3])})
redis.call('SET', KEYS[1], lease, 'PX', ARGV[4])
return 1
"""

_RELEASE_LEASE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).owner == ARGV[1] then
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

    async def get(self) -> bytes | None:
        with _unavailable_on_error():
            value = await self._client.get(self._token)
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

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
                keys=[self._lease], args=[owner, repr(now), repr(ttl), server_ttl_ms]
            )
        return bool(taken)

    async def release_lease(self, owner: str) -> None:
        with _unavailable_on_error():
            await self._release(keys=[self._lease], args=[owner])

    async def close(self) -> None:
        await self._client.aclose()
