"""The command line's own reading of words before argparse sees them."""

from __future__ import annotations

import pytest

from harness.cli import build_parser, negative_values_joined


def test_a_value_that_starts_with_a_dash_and_a_digit_stays_with_its_option() -> None:
    words = ["map", "--refresh", "-1s", "--publishers", "-1,3", "--designs", "shared"]
    assert negative_values_joined(words) == [
        "map",
        "--refresh=-1s",
        "--publishers=-1,3",
        "--designs",
        "shared",
    ]


def test_options_and_joined_values_are_left_alone() -> None:
    words = ["map", "--refresh=5m", "--quick", "--log-level", "debug", "--", "-1"]
    assert negative_values_joined(words) == words


def test_the_joined_value_reaches_the_options_own_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(negative_values_joined(["map", "--refresh", "-1s"]))
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "--refresh: expected a duration like 30s, 5m or 24h, got '-1s'" in error
