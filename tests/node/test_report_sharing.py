"""Guards found by mutation testing and kept as tests of behaviour: report sharing."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokensim_token.keyring import Keyring
from tokensim_token.secrets import Secret

from core.topology import Topology
from node.token.strategies import TokenDeps, shared_store
from tests.support.world import REDIS_PASSWORD, topology_dict


@pytest.mark.looptime(False)  # Redis answers in real time
async def test_the_report_beside_the_token_is_kept_apart_from_it(
    tmp_path: Path, store_kind: dict[str, object]
) -> None:
    data = topology_dict(tmp_path, "http://x", "http://y", token=store_kind)
    topology = Topology.from_dict(data)
    deps = TokenDeps(
        secrets=(Secret("s"),), keyring=Keyring.generate(), store_password=Secret(REDIS_PASSWORD)
    )
    token_store = shared_store(topology, deps, purpose="token")
    report_store = shared_store(topology, deps, purpose="report")
    await token_store.put(b"sealed token")
    assert await report_store.get() is None
    await report_store.put(b"sealed report")
    assert await token_store.get() == b"sealed token"
    await token_store.close()
    await report_store.close()
