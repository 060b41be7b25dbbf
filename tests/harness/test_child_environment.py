"""What the estate's processes get in their environment: a client secret when none is set,
and no CA bundle to load when nothing of the estate speaks TLS."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys

from harness.estate.processes import NO_CERTIFICATES, child_environment
from tests.support.topologies import shipped


def test_a_plain_http_estate_loads_no_ca_bundle_and_a_tls_one_keeps_the_systems() -> None:
    topology = shipped()
    env, _ = child_environment(topology, {})
    assert env["SSL_CERT_FILE"] == str(NO_CERTIFICATES)
    assert NO_CERTIFICATES.read_bytes() == b""
    env, _ = child_environment(topology, {"SSL_CERT_FILE": "/etc/ssl/mine.pem"})
    assert env["SSL_CERT_FILE"] == str(NO_CERTIFICATES)  # nothing to verify with it
    real_ims = topology.ims.evolve(token_url="https://ims-na1.adobelogin.com/ims/token/v3")
    tls = topology.evolve(ims=real_ims)
    env, _ = child_environment(tls, {})
    assert "SSL_CERT_FILE" not in env  # Adobe's IMS is verified against the system's CAs
    env, _ = child_environment(tls, {"SSL_CERT_FILE": "/etc/ssl/mine.pem"})
    assert env["SSL_CERT_FILE"] == "/etc/ssl/mine.pem"  # the caller's choice stands


def test_a_child_with_the_empty_bundle_trusts_no_certificate() -> None:
    """(So that nothing could be verified by it that should not: it holds none.)"""
    env, _ = child_environment(shipped(), {k: v for k, v in os.environ.items()})
    env.pop("SSL_CERT_DIR", None)
    code = "import ssl; print(len(ssl.create_default_context().get_ca_certs()))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "0"
    assert ssl.create_default_context().cert_store_stats() is not None
