"""``polling._policy``: a ``PollPolicy`` is checked when made; a bad value never reaches a poll."""

from __future__ import annotations

import pytest

from bkjob_async import PollPolicy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0},
        {"interval": 2.0, "max_interval": 1.0},
        {"growth": 0.5},
        {"jitter": 1.0},
        {"max_in_flight": 0},
        {"rate_limit": -1},
        {"deadline": 0},
        {"retry_budget": 2},
        {"buffer_size": 0},
        {"remember": -1},
        {"group_threshold": 0},
    ],
)
def test_policy_rejects_values_out_of_range(kwargs) -> None:
    with pytest.raises(ValueError, match="must"):
        PollPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": float("inf")},
        {"max_interval": float("inf")},
        {"interval": float("nan")},
        {"poll_timeout": float("inf")},
        {"deadline": float("inf")},
        {"rate_limit": float("nan")},
        {"growth": float("inf")},
        {"jitter": float("nan")},
        {"retry_budget": float("nan")},
    ],
)
def test_policy_rejects_values_that_are_not_finite(kwargs) -> None:
    with pytest.raises(ValueError, match="finite"):
        PollPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": "1"},
        {"interval": True},
        {"poll_timeout": "5"},
        {"max_in_flight": 2.0},
        {"max_in_flight": True},
        {"buffer_size": "10"},
        {"remember": 1.5},
        {"group_threshold": "500"},
        {"jitter": None},
    ],
)
def test_policy_rejects_values_of_the_wrong_type(kwargs) -> None:
    with pytest.raises(TypeError):
        PollPolicy(**kwargs)


def test_max_retries_is_gone_with_a_clear_error() -> None:
    with pytest.raises(TypeError, match="max_retries"):
        PollPolicy(max_retries=3)  # type: ignore[call-arg]


def test_default_poll_timeout_fits_polling() -> None:
    assert PollPolicy().poll_timeout == 10.0
