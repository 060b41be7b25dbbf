"""topology.yaml: the shipped file loads; every broken file gives one clear line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from core.durations import format_duration, parse_duration
from core.topology import TopologyError, json_schema, load_topology
from tests.support.topologies import ROOT, VALID, write


def test_the_shipped_topology_loads() -> None:
    topology = load_topology(ROOT / "topology.yaml")
    assert [p.id for p in topology.publishers] == ["p1", "p2", "p3"]
    assert [d.publisher for d in topology.dispatchers] == ["p1", "p2", "p3"]
    assert topology.token.strategy == "per-node"
    assert topology.analytics.report_refresh == 1800.0  # Adobe: no more than every 30 min
    assert topology.token.expiry_margin == 300.0
    assert Path(topology.token.state_dir).is_absolute()


def test_the_committed_json_schema_is_up_to_date() -> None:
    assert (ROOT / "topology.schema.json").read_text() == json_schema()


def test_a_minimal_file_gets_defaults(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, VALID))
    assert topology.ims.client_secret_env == ("S",)
    assert topology.token.refresh_at == 0.5
    assert topology.simulation.ims.expires_in == 30
    assert topology.token.keyring_path == tmp_path / ".state" / "keyring.json"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  scope: openid",
            "  scope: openid\n  scopes: x",
            "ims.scopes: unknown key (did you mean 'scope'?)",
        ),
        ("rsid: r}", "rsid: r, top: many}", "analytics.top: Input should be a valid integer"),
        (
            "{id: p2, port: 8102}",
            "{id: p1, port: 8102}",
            "publishers[1].id: duplicate id 'p1' (also publishers[0].id)",
        ),
        (
            "{id: p2, port: 8102}",
            "{id: p2, port: 8101}",
            "publishers[1].port: port 8101 is used twice (also by publishers[0].port)",
        ),
        (
            "publisher: p1}",
            "publisher: p9}",
            "dispatchers[0].publisher: no publisher with id 'p9' (known: p1, p2)",
        ),
        (
            "rsid: r}",
            "rsid: r, report_refresh: soon}",
            "analytics.report_refresh: expected a duration like 30s, 5m or 24h, got 'soon'",
        ),
        (
            "rsid: r}",
            "rsid: r, report_refresh: -5}",
            "analytics.report_refresh: a duration cannot be negative",
        ),
        (
            "rsid: r}",
            "rsid: r, report_jitter: 1.5}",
            "analytics.report_jitter: Input should be less than 1",
        ),
        (
            "publishers:",
            "simulation: {analytics: {latency: {median: -1}}}\npublishers:",
            "simulation.analytics.latency.median: a duration cannot be negative",
        ),
        (
            "publishers:",
            "simulation: {analytics: {latency: {median: 2s, p99: 1s}}}\npublishers:",
            "simulation.analytics.latency.p99: must not be below the median (2.0s), got 1.0s",
        ),
        (
            "publishers:",
            "simulation: {analytics: {latency: {per_concurrent: -0.5}}}\npublishers:",
            "simulation.analytics.latency.per_concurrent: Input should be greater than or equal",
        ),
        (
            "publishers:",
            "dispatcher: {cache: {statfileslevel: -1}}\npublishers:",
            "dispatcher.cache.statfileslevel: Input should be greater than or equal to 0",
        ),
        ("  client_id: c\n", "", "ims.client_id: required key is missing"),
        (
            "  client_secret_env: S",
            "  client_secret_env: 'not a name'",
            "ims.client_secret_env[0]: String should match pattern",
        ),
        (
            "  scope: openid",
            "  scope: openid\n  scope: AdobeID",
            "line 6, column 3: key 'scope' is written twice",
        ),
        (
            "  - {id: p1, port: 8101}",
            "  - {id: p1, port: 8101",
            "line 9, column 5: expected ',' or '}'",
        ),
        (
            "  - {id: p1, port: 8101}",
            "  - {id: p1, port: 99999}",
            "publishers[0].port: Input should be less than or equal to 65535",
        ),
        (
            "publishers:",
            "token: {strategy: sticky}\npublishers:",
            "token.strategy: Input should be 'per-node', 'shared', 'replicated', 'scheduled', "
            "'naive', 'on-expiry' or 'node-scheduler'",
        ),
        (
            "publishers:",
            "token: {strategy: shared, store: {kind: redis}}\npublishers:",
            "token.store.url: kind redis needs a url",
        ),
        (
            "publishers:",
            "token: {store: {kind: redis, url: 'redis://:pw@127.0.0.1:6379/0'}}\npublishers:",
            "token.store.url: no credentials in the url: name them in token.store.password_env",
        ),
        (
            "publishers:",
            "token: {replication: {loss: 1.5}}\npublishers:",
            "token.replication.loss: Input should be less than or equal to 1",
        ),
        (
            "publishers:",
            "token: {replication: {fallback: retry}}\npublishers:",
            "token.replication.fallback: Input should be 'fetch' or 'wait'",
        ),
        (
            "publishers:",
            "token: {refresh_at: 0.95}\npublishers:",
            "token.refresh_jitter: refresh_at + refresh_jitter must stay below 1",
        ),
        ("ims:", "imss: {}\nims:", "imss: unknown key (did you mean 'ims'?)"),
    ],
)
def test_broken_files_name_the_key_path(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="expected a mapping of sections"):
        load_topology(write(tmp_path, "- just\n- a list\n"))
    with pytest.raises(TopologyError, match="file not found"):
        load_topology(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("24h", 86400),
        ("1.5d", 129600),
        ("250ms", 0.25),
        (45, 45),
        ("7", 7),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_duration_formatting() -> None:
    assert format_duration(86399) == "23h59m59s"
    assert format_duration(0.25) == "250ms"
    assert format_duration(60) == "1m"


def test_a_misspelt_key_is_named_first_with_the_key_it_should_be(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace("  token_url:", "  tokn_url:").replace(
            "rsid: r}", "rsid: r, report_refresh: 5 parsecs}"
        ),
    )
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    message = str(caught.value).removeprefix(f"{path}: ")
    # The typo first, with the closest valid key; then what follows from it; every problem.
    assert message.startswith("ims.tokn_url: unknown key (did you mean 'token_url'?)"), message
    assert "ims.token_url: required key is missing" in message
    assert (
        "analytics.report_refresh: expected a duration like 30s, 5m or 24h, got '5 parsecs'"
        in message
    )
    assert message.count("5 parsecs") == 1
    assert "more problem" not in message


def test_editors_validate_the_file_against_the_committed_schema() -> None:
    """The first line points editors (the YAML language server) at topology.schema.json; the
    shipped file is valid against it and a misspelt key is not."""
    text = (ROOT / "topology.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=topology.schema.json"
    schema = json.loads((ROOT / "topology.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    misspelt = yaml.safe_load(text.replace("  strategy:", "  stratgy:", 1))
    assert any("stratgy" in error.message for error in validator.iter_errors(misspelt))
