"""Target tracking decisions on synthetic load: scale out, hold, scale in, bounds."""

from __future__ import annotations

import pytest

from grid._autoscaling import SCALE_IN_MINUTES, ScalingSettings, ScalingSettingsUpdate, TargetTracker
from grid.errors import ValidationException

SEED = ScalingSettings(minimum=5, maximum=1000, target=50.0)  # the Prime Day form's settings


def run(tracker: TargetTracker, provisioned: int, loads: list[float]) -> list[int]:
    """Provisioned units after each policy minute of ``loads`` (consumed units per second)."""
    history = []
    for load in loads:
        decision = tracker.step(load, provisioned)
        provisioned = decision if decision is not None else provisioned
        history.append(provisioned)
    return history


def test_scales_out_after_two_minutes_above_target() -> None:
    history = run(TargetTracker(SEED), 100, [80, 80, 80])
    assert history == [100, 160, 160]  # 80 units/s at 50 % target: 160


def test_holds_near_target_and_ignores_one_spike() -> None:
    assert run(TargetTracker(SEED), 100, [50, 45, 95, 50, 48]) == [100] * 5


def test_scales_in_slowly_after_fifteen_minutes_well_below() -> None:
    history = run(TargetTracker(SEED), 100, [20] * (SCALE_IN_MINUTES + 1))
    assert history[: SCALE_IN_MINUTES - 1] == [100] * (SCALE_IN_MINUTES - 1)
    assert history[SCALE_IN_MINUTES - 1] == 40
    interrupted = run(TargetTracker(SEED), 100, [20] * 10 + [45] + [20] * 10)
    assert interrupted == [100] * 21  # 45 is not well below 50: the count starts again


def test_never_outside_the_bounds() -> None:
    assert run(TargetTracker(SEED), 900, [5000, 5000]) == [900, 1000]
    assert run(TargetTracker(SEED), 10, [0] * SCALE_IN_MINUTES)[-1] == 5
    narrowed = TargetTracker(ScalingSettings(minimum=20, maximum=30, target=50.0))
    assert narrowed.step(0, 100) == 30  # new bounds apply at once


def test_disabled_holds() -> None:
    assert run(TargetTracker(ScalingSettings(disabled=True)), 100, [500] * 5) == [100] * 5


@pytest.mark.parametrize(
    "update",
    [
        {"MinimumUnits": 0},
        {"MinimumUnits": 10, "MaximumUnits": 5},
        {"ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 95}}},
        {"ScalingPolicyUpdate": {}},
        {"Bogus": 1},
    ],
)
def test_bad_settings_are_refused(update: dict) -> None:
    what = "ProvisionedWriteCapacityAutoScalingUpdate"
    with pytest.raises(ValidationException):
        SEED.updated(ScalingSettingsUpdate.from_params(update, what), what)


def test_bounds_that_cross_the_current_ones_are_refused() -> None:
    """A new minimum alone is checked against the maximum the settings already have."""
    with pytest.raises(ValidationException, match="MinimumUnits must not exceed MaximumUnits"):
        SEED.updated(ScalingSettingsUpdate(minimum=SEED.maximum + 1), "update")


def test_settings_update_and_describe() -> None:
    change = ScalingSettingsUpdate.from_params(
        {
            "MinimumUnits": 10,
            "MaximumUnits": 500,
            "ScalingPolicyUpdate": {"TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70}},
        },
        "update",
    )
    updated = SEED.updated(change, "update")
    described = updated.describe()
    assert described["MinimumUnits"] == 10 and described["MaximumUnits"] == 500
    assert described["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0
