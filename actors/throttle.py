"""A partition's share of its table's provisioned throughput: token buckets with burst.

Each partition enforces ``provisioned / partitions`` read and write units per second.
Unused capacity accrues for up to 300 seconds (DynamoDB's burst capacity). A request
is admitted while its bucket holds a unit and is charged its actual units
afterwards (its size is known only once it ran), so a large item may take the bucket
below zero and the requests after it wait for the refill. Tables billed per request
have no buckets. The meter also counts what was consumed and throttled, for metrics
and auto scaling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from grid.errors import ProvisionedThroughputExceededException

__all__ = ["CapacityMeter", "TokenBucket"]

BURST_SECONDS = 300.0
THROTTLED_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)


class TokenBucket:
    def __init__(self, rate: float, clock: Callable[[], float], burst_seconds: float = BURST_SECONDS) -> None:
        self._clock = clock
        self._burst_seconds = burst_seconds
        self.rate = rate
        self.tokens = max(rate, 1.0)  # a new bucket holds one second's worth; burst accrues from idle time
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)  # replicas' entry times may step back a little
        self.tokens = min(self.rate * self._burst_seconds, self.tokens + elapsed * self.rate)
        self._updated = max(now, self._updated)

    def admits(self) -> bool:
        """Whether a request may start: the bucket holds a whole unit (or a second's worth, if less)."""
        self._refill()
        return self.tokens >= min(1.0, self.rate)

    def charge(self, units: float) -> None:
        self._refill()
        self.tokens -= units

    def set_rate(self, rate: float) -> None:
        self._refill()
        self.rate = rate


@dataclass(slots=True)
class Totals:
    read_units: float = 0.0
    write_units: float = 0.0
    throttled_reads: int = 0
    throttled_writes: int = 0


class CapacityMeter:
    """Admission and accounting of one partition's reads and writes.

    Writes are metered by ``write_clock`` and reads by ``read_clock``: a replicated
    partition meters writes by its log entries' times, so every replica admits the
    same writes, and reads by the clock of the replica that serves them.
    """

    def __init__(
        self, read_clock: Callable[[], float] = time.monotonic, write_clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._read_clock = read_clock
        self._write_clock = write_clock
        self.read: TokenBucket | None = None  # None: on demand, no limit
        self.write: TokenBucket | None = None
        self.totals = Totals()

    def provision(self, read_per_second: float | None, write_per_second: float | None) -> None:
        """Set this partition's share of the table's throughput (None for on-demand billing)."""
        self.read = self._bucket(self.read, read_per_second, self._read_clock)
        self.write = self._bucket(self.write, write_per_second, self._write_clock)

    @staticmethod
    def _bucket(bucket: TokenBucket | None, rate: float | None, clock: Callable[[], float]) -> TokenBucket | None:
        if rate is None:
            return None
        if bucket is None:
            return TokenBucket(rate, clock)
        bucket.set_rate(rate)
        return bucket

    def admit_read(self) -> None:
        if self.read is not None and not self.read.admits():
            self.totals.throttled_reads += 1
            raise ProvisionedThroughputExceededException(THROTTLED_MESSAGE)

    def admit_write(self) -> None:
        if self.write is not None and not self.write.admits():
            self.totals.throttled_writes += 1
            raise ProvisionedThroughputExceededException(THROTTLED_MESSAGE)

    def charge_read(self, units: float) -> None:
        self.totals.read_units += units
        if self.read is not None:
            self.read.charge(units)

    def charge_write(self, units: float) -> None:
        self.totals.write_units += units
        if self.write is not None:
            self.write.charge(units)
