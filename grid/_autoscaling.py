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

__all__ = ["AutoScalingUpdate", "ScalingSettings", "ScalingSettingsUpdate", "TargetTracker"]

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

    def updated(self, change: ScalingSettingsUpdate, what: str) -> ScalingSettings:
        """These settings with ``change`` applied; refuses bounds that cross."""
        minimum = self.minimum if change.minimum is None else change.minimum
        maximum = self.maximum if change.maximum is None else change.maximum
        if minimum > maximum:
            raise ValidationException(f"{what}: MinimumUnits must not exceed MaximumUnits")
        return replace(
            self,
            minimum=minimum,
            maximum=maximum,
            target=self.target if change.target is None else change.target,
            disabled=self.disabled if change.disabled is None else change.disabled,
        )

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


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalingSettingsUpdate:
    """DynamoDB's ``AutoScalingSettingsUpdate``, validated: what to change in one dimension (None: keep)."""

    minimum: int | None = None
    maximum: int | None = None
    target: float | None = None
    disabled: bool | None = None

    @classmethod
    def from_params(cls, raw: Any, what: str) -> ScalingSettingsUpdate:
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
            raise ValidationException(f"Unknown fields in {what}: {', '.join(sorted(map(str, unknown)))}")
        minimum, maximum = raw.get("MinimumUnits"), raw.get("MaximumUnits")
        for value in (minimum, maximum):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValidationException(f"{what}: MinimumUnits and MaximumUnits must be positive integers")
        if minimum is not None and maximum is not None and minimum > maximum:
            raise ValidationException(f"{what}: MinimumUnits must not exceed MaximumUnits")
        target = None
        policy = raw.get("ScalingPolicyUpdate")
        if policy is not None:
            configuration = (
                policy.get("TargetTrackingScalingPolicyConfiguration") if isinstance(policy, Mapping) else None
            )
            if not isinstance(configuration, Mapping) or "TargetValue" not in configuration:
                raise ValidationException(
                    f"{what}: ScalingPolicyUpdate needs TargetTrackingScalingPolicyConfiguration.TargetValue"
                )
            value = configuration["TargetValue"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 20 <= value <= 90:
                raise ValidationException(f"{what}: TargetValue must be from 20 to 90 (percent)")
            target = float(value)
        disabled = raw.get("AutoScalingDisabled")
        if disabled is not None and not isinstance(disabled, bool):
            raise ValidationException(f"{what}: AutoScalingDisabled must be a boolean")
        return cls(minimum=minimum, maximum=maximum, target=target, disabled=disabled)


READ_UPDATE = "ProvisionedReadCapacityAutoScalingUpdate"
WRITE_UPDATE = "ProvisionedWriteCapacityAutoScalingUpdate"


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoScalingUpdate:
    """``update_table_replica_auto_scaling``'s parameters, validated on the client."""

    read: ScalingSettingsUpdate | None = None
    write: ScalingSettingsUpdate | None = None
    index_names: tuple[str, ...] = ()  # GlobalSecondaryIndexUpdates: grid has no indexes yet

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AutoScalingUpdate:
        read, write = params.get(READ_UPDATE), params.get(WRITE_UPDATE)
        index_updates = params.get("GlobalSecondaryIndexUpdates") or []
        if not isinstance(index_updates, list):
            raise ValidationException("GlobalSecondaryIndexUpdates must be a list")
        names = tuple(str(update.get("IndexName")) if isinstance(update, Mapping) else "" for update in index_updates)
        return cls(
            read=ScalingSettingsUpdate.from_params(read, READ_UPDATE) if read is not None else None,
            write=ScalingSettingsUpdate.from_params(write, WRITE_UPDATE) if write is not None else None,
            index_names=names,
        )
