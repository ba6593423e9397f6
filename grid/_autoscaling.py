"""Auto scaling of provisioned throughput by target tracking, as AWS Application Auto Scaling does it.

Each dimension (reads, writes) tracks a target utilization (20 to 90 %): consumed
units per second over provisioned units. Once a policy minute, ``TargetTracker.step``
decides: scale out soon after utilization stays above target (2 consecutive minutes),
scale in slowly after it stays well below (15 consecutive minutes under 80 % of the
target), each time to ``consumed / target``, never outside ``[minimum, maximum]``.
A table's ``GridSettings={"TimeScale": k}`` runs the policy clock k times faster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from grid.errors import ValidationException

__all__ = ["ScalingSettings", "TargetTracker"]

SCALE_OUT_MINUTES = 2
SCALE_IN_MINUTES = 15
SCALE_IN_FRACTION = 0.8
POLICY_NAME = "grid-target-tracking"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingSettings:
    """One dimension's auto scaling: bounds and target utilization (percent)."""

    minimum: int = 5
    maximum: int = 1000
    target: float = 50.0
    disabled: bool = False

    def updated(self, raw: Any, what: str) -> ScalingSettings:
        """These settings changed by DynamoDB's ``AutoScalingSettingsUpdate`` shape."""
        if not isinstance(raw, Mapping):
            raise ValidationException(f"{what} must be a map")
        unknown = set(raw) - {
            "MinimumUnits",
            "MaximumUnits",
            "AutoScalingDisabled",
            "ScalingPolicyUpdate",
            "AutoScalingRoleArn",
        }
        if unknown:
            raise ValidationException(f"Unknown fields in {what}: {', '.join(sorted(unknown))}")
        minimum = raw.get("MinimumUnits", self.minimum)
        maximum = raw.get("MaximumUnits", self.maximum)
        for value in (minimum, maximum):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationException(f"{what}: MinimumUnits and MaximumUnits must be positive integers")
        if minimum > maximum:
            raise ValidationException(f"{what}: MinimumUnits must not exceed MaximumUnits")
        target = self.target
        policy = raw.get("ScalingPolicyUpdate")
        if policy is not None:
            configuration = (
                policy.get("TargetTrackingScalingPolicyConfiguration") if isinstance(policy, Mapping) else None
            )
            if not isinstance(configuration, Mapping) or "TargetValue" not in configuration:
                raise ValidationException(
                    f"{what}: ScalingPolicyUpdate needs TargetTrackingScalingPolicyConfiguration.TargetValue"
                )
            target = configuration["TargetValue"]
            if isinstance(target, bool) or not isinstance(target, (int, float)) or not 20 <= target <= 90:
                raise ValidationException(f"{what}: TargetValue must be from 20 to 90 (percent)")
        disabled = raw.get("AutoScalingDisabled", self.disabled)
        if not isinstance(disabled, bool):
            raise ValidationException(f"{what}: AutoScalingDisabled must be a boolean")
        return replace(self, minimum=minimum, maximum=maximum, target=float(target), disabled=disabled)

    def describe(self) -> dict[str, Any]:
        return {
            "MinimumUnits": self.minimum,
            "MaximumUnits": self.maximum,
            "AutoScalingDisabled": self.disabled,
            "ScalingPolicies": [
                {
                    "PolicyName": POLICY_NAME,
                    "TargetTrackingScalingPolicyConfiguration": {"TargetValue": self.target},
                }
            ],
        }

    def bounded(self, units: float) -> int:
        return int(min(self.maximum, max(self.minimum, math.ceil(units))))


class TargetTracker:
    """The decisions of one dimension, stepped once per policy minute."""

    def __init__(self, settings: ScalingSettings) -> None:
        self.settings = settings
        self._minutes_above = 0
        self._minutes_below = 0

    def step(self, consumed_per_second: float, provisioned: int) -> int | None:
        """The new provisioned units, or None to hold."""
        settings = self.settings
        if settings.disabled:
            return None
        if not settings.minimum <= provisioned <= settings.maximum:
            return settings.bounded(provisioned)  # bounds changed: move inside them at once
        utilization = 100.0 * consumed_per_second / provisioned
        self._minutes_above = self._minutes_above + 1 if utilization > settings.target else 0
        below = utilization < settings.target * SCALE_IN_FRACTION
        self._minutes_below = self._minutes_below + 1 if below else 0
        wanted = settings.bounded(consumed_per_second * 100.0 / settings.target)
        if self._minutes_above >= SCALE_OUT_MINUTES and wanted > provisioned:
            self._minutes_above = 0
            return wanted
        if self._minutes_below >= SCALE_IN_MINUTES and wanted < provisioned:
            self._minutes_below = 0
            return wanted
        return None
