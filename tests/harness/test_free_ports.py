"""Ports for an estate of its own: free, distinct, and out of the way of outgoing connections."""

from __future__ import annotations

import socket

import pytest

from harness.errors import StartupError
from harness.estate import processes
from harness.estate.processes import _ephemeral_low, free_ports


def test_free_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    # The kernel gives outgoing connections local ports from its ephemeral range only: a port
    # below it cannot be taken by one between the choice and the service's bind.
    assert all(1024 <= port < _ephemeral_low() for port in ports)
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))


def test_a_port_something_listens_on_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "FREE_PORTS_SPAN", 5)  # draw from the 5 ports below the range
    low = _ephemeral_low()
    span = set(range(low - 5, low))
    assert set(free_ports(5)) == span  # all five free on this machine
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", low - 3))
        listener.listen()
        for _ in range(10):
            assert set(free_ports(4)) == span - {low - 3}
        with pytest.raises(StartupError, match="5 free ports wanted below"):
            free_ports(5)
