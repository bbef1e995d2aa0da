"""Fault injection for the emulator's Pinpoint requests (S3 and IAM requests are never faulted)."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fault:
    """An injected error response: HTTP status, Pinpoint error type and message."""

    status: int
    code: str
    message: str


THROTTLE = Fault(429, "TooManyRequestsException", "Rate exceeded (fault injected by the emulator)")
INTERNAL_ERROR = Fault(500, "InternalServerErrorException", "Internal error (fault injected by the emulator)")

OPERATIONS = (
    "CreateApp",
    "CreateExportJob",
    "CreateSegment",
    "DeleteApp",
    "GetApp",
    "GetApps",
    "GetEndpoint",
    "GetExportJob",
    "GetExportJobs",
    "GetSegment",
    "GetSegmentExportJobs",
    "GetSegments",
    "UpdateEndpoint",
    "UpdateEndpointsBatch",
)
"""The Pinpoint operations the emulator answers: the names a fault may be limited to."""

_SWITCHES = ("throttle_rate", "error_rate", "latency")


class FaultInjector:
    """Switches that make the emulator's Pinpoint requests slow or failing; thread-safe.

    :ivar throttle_rate: Probability (0..1) that a request answers 429 TooManyRequestsException.
    :ivar error_rate: Probability (0..1) that a request the throttle rate let through answers 500
        InternalServerErrorException (so with both set, 500s land on
        ``(1 - throttle_rate) * error_rate`` of the requests).
    :ivar latency: Seconds added to every Pinpoint request before it is answered.
    :ivar throttle_operations: The operations ``throttle_rate`` applies to (``None``: every one);
        likewise ``error_operations`` and ``latency_operations``. Set them with :meth:`set`.
    :ivar injected: Number of faults (429s, 500s and lost answers) injected since the last :meth:`reset`.
    :ivar throttles_injected: How many of those were 429s.
    :ivar errors_injected: How many of those were 500s (lost answers not included).
    :ivar lost_answers_injected: How many CreateExportJob answers were lost after the job started.

    Draws come from a ``random.Random(seed)`` so a test sees the same faults on every run.
    """

    throttle_operations: frozenset[str] | None
    error_operations: frozenset[str] | None
    latency_operations: frozenset[str] | None

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
            self.throttle_operations = self.error_operations = self.latency_operations = None
            self.injected = 0
            self.throttles_injected = 0
            self.errors_injected = 0
            self.lost_answers_injected = 0
            self._burst = 0
            self._burst_after = 0
            self._burst_operations: frozenset[str] | None = None
            self._lost = 0
            self._lost_drop = False
            self._rng = random.Random(self._seed)

    def set(
        self,
        *,
        throttle_rate: float | None = None,
        error_rate: float | None = None,
        latency: float | None = None,
        operations: Iterable[str] | None = None,
    ) -> None:
        """Set the switches given, each limited to ``operations`` (``None``: every operation).

        Example: ``faults.set(throttle_rate=1.0, operations=["GetExportJob"])`` throttles every
        GetExportJob and nothing else. Switches not given keep their value and their limit.
        Raises ValueError for a rate outside 0..1, a negative or infinite latency, or an unknown
        operation name (see ``OPERATIONS``).
        """
        limit = check_operations(operations)
        values = {"throttle_rate": throttle_rate, "error_rate": error_rate, "latency": latency}
        for name, value in values.items():
            if value is not None:
                check_switch(name, value)
        with self._lock:
            for name, value in values.items():
                if value is not None:
                    setattr(self, name, float(value))
                    setattr(self, name.replace("_rate", "") + "_operations", limit)

    def throttle_burst(self, n: int, *, after: int = 0, operations: Iterable[str] | None = None) -> None:
        """Make ``n`` Pinpoint requests in a row answer 429 TooManyRequestsException (adds to any left).

        :param n: How many requests to throttle.
        :param after: How many requests to let through first, so a burst can land in the middle of
            a wait (it replaces any earlier ``after`` still pending).
        :param operations: Count (and throttle) only requests of these operations (``None``: every
            one); it replaces any earlier limit of the burst.
        """
        if n < 0 or after < 0:
            raise ValueError(f"n and after must not be negative, got n={n!r}, after={after!r}")
        limit = check_operations(operations)
        with self._lock:
            self._burst += n
            self._burst_after = after
            self._burst_operations = limit

    def lose_create_answers(self, n: int, *, drop_connection: bool = False) -> None:
        """Make the next ``n`` CreateExportJob requests start their job, then lose the answer.

        The job exists (a later listing finds it) but the client gets 500
        InternalServerErrorException, or, with ``drop_connection``, a connection closed without
        any answer. Requests refused before the job starts (bad input, a throttle) do not count.
        ``n`` replaces any count still pending; 0 turns the switch off.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an integer, 0 or more, got {n!r}")
        with self._lock:
            self._lost = n
            self._lost_drop = bool(drop_connection)

    @property
    def burst_remaining(self) -> int:
        """How many requests of the current burst are still to be throttled."""
        return self._burst

    @property
    def lost_answers_remaining(self) -> int:
        """How many CreateExportJob answers are still to be lost."""
        return self._lost

    def latency_for(self, operation: str | None) -> float:
        """Seconds to delay a request of ``operation``."""
        return self.latency if _applies(self.latency_operations, operation) else 0.0

    def draw(self, operation: str | None = None) -> Fault | None:
        """Decide the fault, if any, for one request (the burst first, then the two rates).

        ``operation`` is the request's operation name; switches limited to named operations
        never fault a request without one.
        """
        with self._lock:
            fault = None
            if self._burst > 0 and _applies(self._burst_operations, operation):
                if self._burst_after == 0:
                    self._burst -= 1
                    fault = THROTTLE
                else:
                    self._burst_after -= 1
            elif self._burst == 0:
                self._burst_after = 0
            if fault is None:
                if (
                    self.throttle_rate > 0
                    and _applies(self.throttle_operations, operation)
                    and self._rng.random() < self.throttle_rate
                ):
                    fault = THROTTLE
                elif (
                    self.error_rate > 0
                    and _applies(self.error_operations, operation)
                    and self._rng.random() < self.error_rate
                ):
                    fault = INTERNAL_ERROR
            if fault is not None:
                self.injected += 1
                if fault is THROTTLE:
                    self.throttles_injected += 1
                else:
                    self.errors_injected += 1
            return fault

    def take_lost_answer(self) -> str | None:
        """Use up one lost answer, if any is pending: ``"500"`` or ``"drop"``; else ``None``."""
        with self._lock:
            if self._lost <= 0:
                return None
            self._lost -= 1
            self.injected += 1
            self.lost_answers_injected += 1
            return "drop" if self._lost_drop else "500"

    def snapshot(self) -> dict[str, Any]:
        """Every switch and counter as JSON-ready values (the control API's ``faults`` document)."""
        with self._lock:
            return {
                "throttle_rate": self.throttle_rate,
                "throttle_operations": _listed(self.throttle_operations),
                "error_rate": self.error_rate,
                "error_operations": _listed(self.error_operations),
                "latency": self.latency,
                "latency_operations": _listed(self.latency_operations),
                "throttle_burst": self._burst,
                "after": self._burst_after,
                "burst_operations": _listed(self._burst_operations),
                "lose_create_answers": self._lost,
                "drop_connection": self._lost_drop,
                "injected": self.injected,
                "throttles_injected": self.throttles_injected,
                "errors_injected": self.errors_injected,
                "lost_answers_injected": self.lost_answers_injected,
            }


def check_switch(name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` suits the switch ``name`` (a rate 0..1, a latency >= 0)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if name in ("throttle_rate", "error_rate"):
        if not ok or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    elif not ok or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds, 0 or more, got {value!r}")


def check_operations(operations: Iterable[str] | None) -> frozenset[str] | None:
    """``operations`` as a frozenset (``None`` stays ``None``); ValueError on an unknown name."""
    if operations is None:
        return None
    if isinstance(operations, str):
        raise ValueError(f"operations must be a list of operation names, got {operations!r}")
    names = list(operations)
    for name in names:
        if name not in OPERATIONS:
            raise ValueError(f"unknown operation {name!r} in operations (known: {', '.join(OPERATIONS)})")
    return frozenset(names)


def _applies(limit: frozenset[str] | None, operation: str | None) -> bool:
    return limit is None or operation in limit


def _listed(limit: frozenset[str] | None) -> list[str] | None:
    return None if limit is None else sorted(limit)
