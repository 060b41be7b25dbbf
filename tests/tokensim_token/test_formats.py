"""What a node writes, the next release must read: the formats on disk and on the wire.

A rolling upgrade runs two releases side by side, and a restarted node reads what it wrote
before the upgrade. The files in ``tests/data/formats`` were written by the released code
(a fixed test keyring, key id ``k1``, 32 bytes 0..31): the node's sealed token file, the
shared store's token and lease, and a replication push. Each test reads one with the code
of today. A change to a sealing context, a file name or a field fails here, not in
production, where every node would find its token file unreadable and call IMS at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from tokensim_token.clock import Clock
from tokensim_token.coordination import CLUSTER_CONTEXT
from tokensim_token.file_store import FileStore
from tokensim_token.keyring import load_keyring_file
from tokensim_token.sealing import open_sealed
from tokensim_token.secrets import Secret
from tokensim_token.store import parse_saved

from core.topology import Topology
from node.token.replication import open_replicated
from tests.support.world import WALL_EPOCH, ScriptedTokenEndpoint, start_provider, topology_dict

FORMATS = Path(__file__).parent / "data" / "formats"
GOLDEN_TOKEN = Secret("golden-token-of-the-last-release")
OBTAINED = WALL_EPOCH - 600.0  # the golden token was obtained 10 minutes before the tests' now
LIFETIME = 86399.0


def golden_keyring(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    shutil.copyfile(FORMATS / "keyring.json", path)
    path.chmod(0o600)
    return path


@pytest.mark.looptime
async def test_a_node_upgraded_in_place_uses_the_token_file_the_last_release_wrote(
    tmp_path: Path,
) -> None:
    keyring = load_keyring_file(golden_keyring(tmp_path), create=False)
    topology = Topology.from_dict(
        topology_dict(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2")
    )
    nodes = Path(topology.token.state_dir) / "nodes"  # where the node keeps its sealed token
    nodes.mkdir(parents=True, mode=0o700)
    shutil.copyfile(FORMATS / "nodes" / "p1.token", nodes / "p1.token")
    (nodes / "p1.token").chmod(0o600)  # as the last release wrote it
    clock = Clock.of_loop(asyncio.get_running_loop(), wall_offset=WALL_EPOCH)
    endpoint = ScriptedTokenEndpoint()
    provider = await start_provider(topology, endpoint, keyring=keyring, clock=clock)
    try:
        status = provider.status()
        assert (status.restored_from_disk, status.token_calls) == (True, 0)
        assert (await provider.get()).value == GOLDEN_TOKEN
        assert status.age_seconds == pytest.approx(600.0, abs=0.01)
        assert endpoint.calls == 0
    finally:
        await provider.close()


def test_the_shared_store_reads_the_last_releases_token_and_honours_its_lease(
    tmp_path: Path,
) -> None:
    keyring = load_keyring_file(golden_keyring(tmp_path), create=False)
    folder = tmp_path / "shared"
    shutil.copytree(FORMATS / "shared", folder)
    folder.chmod(0o700)  # as the last release made them
    for file in folder.iterdir():
        file.chmod(0o600)
    store = FileStore(folder, wall_clock=lambda: WALL_EPOCH)

    blob = asyncio.run(store.get())
    assert blob is not None
    plaintext, kid = open_sealed(keyring, blob, CLUSTER_CONTEXT)
    token = parse_saved(plaintext)
    assert (token.value, token.obtained_wall, token.lifetime, kid) == (
        GOLDEN_TOKEN,
        OBTAINED,
        LIFETIME,
        "k1",
    )
    # p2, a node of the last release with a lease time of an hour, holds the lease for another
    # hour: nobody else gets it. (With a lease time under half an hour the record would expire
    # further ahead than any lease can, and be treated as absent: test_store_values.py.)
    assert not asyncio.run(store.try_lease("p1", 3600))
    assert asyncio.run(store.try_lease("p2", 3600))  # its holder renews it


def test_the_shared_store_waits_for_the_lock_another_process_holds(tmp_path: Path) -> None:
    """Nodes of two releases must lock the same file, or both could take the lease."""
    folder = tmp_path / "shared"
    store = FileStore(folder, wall_clock=time.time)
    fd = os.open(folder / "shared.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as the other node does while it changes the lease
    unlock = threading.Timer(0.3, fcntl.flock, (fd, fcntl.LOCK_UN))
    unlock.start()
    try:
        started = time.monotonic()
        assert asyncio.run(store.try_lease("p1", 60))
        assert time.monotonic() - started >= 0.25
    finally:
        unlock.join()
        with contextlib.suppress(OSError):
            os.close(fd)


def test_a_follower_opens_a_push_from_a_leader_of_the_last_release(tmp_path: Path) -> None:
    keyring = load_keyring_file(golden_keyring(tmp_path), create=False)
    push = open_replicated(keyring, "p1", (FORMATS / "push-from-p1.sealed").read_bytes())
    assert (push.token.value, push.token.obtained_wall, push.token.lifetime) == (
        GOLDEN_TOKEN,
        OBTAINED,
        LIFETIME,
    )
    assert (push.seq, push.sent_at) == (1_789_999_400_000, OBTAINED)
