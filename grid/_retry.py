"""The client's retry policy, configured like botocore's ``retries`` option.

``max_attempts`` counts the first try (1 means no retry). Backoff is exponential with
full jitter. Map refreshes after a partition moved are not throttling: they have a
budget of their own so a split never surfaces to a caller; so are calls to a
partition that a merge retired (``partition_left``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grid._partition_map import PartitionMap
from grid.errors import PartitionUnavailableError, ValidationException

__all__ = ["RetryPolicy", "partition_left"]

MODES = ("legacy", "standard", "adaptive")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 3
    mode: str = "standard"
    base_delay: float = 0.025
    max_delay: float = 20.0
    max_map_refreshes: int = 50

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> RetryPolicy:
        if config is None:
            return cls()
        unknown = set(config) - {"max_attempts", "total_max_attempts", "mode"}
        if unknown:
            raise ValidationException(f"Unknown retries options: {', '.join(sorted(unknown))}")
        attempts = config.get("total_max_attempts", config.get("max_attempts", 3))
        mode = config.get("mode", "standard")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValidationException("retries.max_attempts must be an integer of at least 1")
        if mode not in MODES:
            raise ValidationException(f"retries.mode must be one of {', '.join(MODES)}")
        return cls(max_attempts=attempts, mode=mode)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt + 1`` (attempt counts from 1)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


def partition_left(error: PartitionUnavailableError, maps: list[PartitionMap]) -> bool:
    """Whether the unreachable partition ``error`` names is in none of these fresh maps.

    Such a partition was merged away, and refused every call after handing its range
    over: trying again on the new map cannot apply a write twice.
    """
    gone = error.details.get("partition_id")
    return gone is not None and all(r.partition_id != gone for m in maps for r in m.ranges)
