"""Guards found by mutation testing and kept as tests of behaviour: replication pushes."""

from __future__ import annotations

import pytest
from tokensim_token.errors import SealedDataError
from tokensim_token.keyring import Keyring
from tokensim_token.sealing import seal
from tokensim_token.secrets import Secret
from tokensim_token.store import SavedToken

from node.token.replication import Push, open_replicated, seal_for_replication

NOW = 1_790_000_000.0


@pytest.mark.parametrize("seq", [5.0, "5", True, None])
def test_a_push_whose_sequence_number_is_not_an_integer_is_refused(seq: object) -> None:
    keyring = Keyring.generate()
    push = Push(SavedToken(Secret("tok"), NOW, 86_399.0), seq, NOW)  # type: ignore[arg-type]
    with pytest.raises(SealedDataError, match="not a push"):
        open_replicated(keyring, "p1", seal_for_replication(keyring, "p1", push))
    good = Push(SavedToken(Secret("tok"), NOW, 86_399.0), 5, NOW)
    assert open_replicated(keyring, "p1", seal_for_replication(keyring, "p1", good)).seq == 5


def test_a_push_opens_only_as_from_the_leader_that_sealed_it() -> None:
    keyring = Keyring.generate()
    push = Push(SavedToken(Secret("tok"), NOW, 86_399.0), 1, NOW)
    blob = seal_for_replication(keyring, "p1", push)
    with pytest.raises(SealedDataError):
        open_replicated(keyring, "p2", blob)
    other = seal(keyring, b'{"access_token": "t", "obtained_at": 1, "lifetime": 2, "seq": 1}', {})
    with pytest.raises(SealedDataError):
        open_replicated(keyring, "p1", other)  # sealed for another purpose
