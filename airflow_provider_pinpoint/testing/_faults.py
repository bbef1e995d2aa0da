"""Fault injection for the emulator's Pinpoint requests (S3 and IAM requests are never faulted)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """An injected error response: HTTP status, Pinpoint error type and message."""

    status: int
    code: str
    message: str


THROTTLE = Fault(429, "TooManyRequestsException", "Rate exceeded (fault injected by the emulator)")
INTERNAL_ERROR = Fault(500, "InternalServerErrorException", "Internal error (fault injected by the emulator)")


class FaultInjector:
    """Switches that make the emulator's Pinpoint requests slow or failing; thread-safe.

    Attributes:
        throttle_rate: Probability (0..1) that a request answers 429 TooManyRequestsException.
        error_rate: Probability (0..1) that a request the throttle rate let through answers 500
            InternalServerErrorException (so with both set, 500s land on
            ``(1 - throttle_rate) * error_rate`` of the requests).
        latency: Seconds added to every Pinpoint request before it is answered.
        injected: Number of faults (429s and 500s) injected since the last :meth:`reset`.
        throttles_injected: How many of those were 429s.
        errors_injected: How many of those were 500s.

    Draws come from a ``random.Random(seed)`` so a test sees the same faults on every run.
    """

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Turn every fault off, zero the counters and reseed the generator."""
        with self._lock:
            self.throttle_rate = 0.0
            self.error_rate = 0.0
            self.latency = 0.0
            self.injected = 0
            self.throttles_injected = 0
            self.errors_injected = 0
            self._burst = 0
            self._burst_after = 0
            self._rng = random.Random(self._seed)

    def throttle_burst(self, n: int, *, after: int = 0) -> None:
        """Make ``n`` Pinpoint requests in a row answer 429 TooManyRequestsException (adds to any left).

        Args:
            n: How many requests to throttle.
            after: How many requests to let through first, so a burst can land in the middle of
                a wait (it replaces any earlier ``after`` still pending).
        """
        if n < 0 or after < 0:
            raise ValueError(f"n and after must not be negative, got n={n!r}, after={after!r}")
        with self._lock:
            self._burst += n
            self._burst_after = after

    @property
    def burst_remaining(self) -> int:
        """How many requests of the current burst are still to be throttled."""
        return self._burst

    def draw(self) -> Fault | None:
        """Decide the fault, if any, for one request (the burst first, then the two rates)."""
        with self._lock:
            fault = None
            if self._burst > 0 and self._burst_after == 0:
                self._burst -= 1
                fault = THROTTLE
            else:
                self._burst_after = max(0, self._burst_after - 1) if self._burst else 0
                if self.throttle_rate > 0 and self._rng.random() < self.throttle_rate:
                    fault = THROTTLE
                elif self.error_rate > 0 and self._rng.random() < self.error_rate:
                    fault = INTERNAL_ERROR
            if fault is not None:
                self.injected += 1
                if fault is THROTTLE:
                    self.throttles_injected += 1
                else:
                    self.errors_injected += 1
            return fault
