"""The one polling core: every wait for an export job (operator, sensor, trigger) drives it.

A wait polls; each poll reads the job, decides with :func:`job_state` and either ends the wait
with an :class:`Outcome` or says how long to pause before the next poll. The drivers are a few
lines each: the operator's blocking loop, the sensor's ``poke``, the trigger's ``run``. All of
them end through :meth:`Outcome.result`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_pinpoint._compat import AirflowFailException
from airflow_provider_pinpoint.exceptions import (
    ExportJobNotFoundError,
    PinpointApiError,
    PinpointTransientError,
    PinpointUnreachableError,
)
from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook, job_state

#: Seconds of nothing but unreachable polls after which a wait fails (PinpointUnreachableError).
UNREACHABLE_AFTER = 900.0
#: The shortest pause, in seconds, after a throttled poll, whatever waiter_delay says.
THROTTLED_MIN_DELAY = 1.0

Reason = Literal["completed", "failed", "timeout", "api_error", "unreachable"]
_REASONS = frozenset({"failed", "timeout", "api_error", "unreachable"})


@dataclass(frozen=True)
class Outcome:
    """
    How a wait ended.

    :ivar reason: ``completed``, ``failed``, ``timeout``, ``api_error`` or ``unreachable``.
    :ivar job_id: the export job's Id (None when the segment never had one).
    :ivar message: the final state line, or what went wrong.
    :ivar s3_url_prefix: where a completed job wrote (None when Pinpoint reports it nowhere).
    """

    reason: Reason
    job_id: str | None
    message: str
    s3_url_prefix: str | None = None

    def to_event(self) -> dict[str, Any]:
        """The JSON-native trigger event payload for this outcome."""
        event = {"job_id": self.job_id, "message": self.message}
        if self.reason == "completed":
            return {"status": "success", "s3_url_prefix": self.s3_url_prefix, **event}
        return {"status": "error", "reason": self.reason, **event}

    @classmethod
    def from_event(cls, event: Any) -> Outcome:
        """Read a trigger event back; a missing or malformed event is an ``api_error``."""
        if not isinstance(event, dict) or event.get("status") not in {"success", "error"}:
            return cls("api_error", None, f"SegmentExportJobTrigger sent no usable event: {event!r}")
        job_id = event.get("job_id")
        if event["status"] == "success":
            message = event.get("message") or f"Export job {job_id} COMPLETED."
            return cls("completed", job_id, message, event.get("s3_url_prefix"))
        reason: Reason = event["reason"] if event.get("reason") in _REASONS else "api_error"
        message = event.get("message") or f"SegmentExportJobTrigger reported an error: {event!r}"
        return cls(reason, job_id, message)

    def result(self, log: Any, *, timeout_error: type[Exception]) -> str | None:
        """
        The S3UrlPrefix of a completed wait; any other outcome raises.

        :param log: the task's logger; the final line is logged before anything is raised, so it
            shows even when ``soft_fail`` turns the failure into a skip.
        :param timeout_error: the exception class for ``timeout``.
        :raises AirflowFailException: ``failed``.
        :raises PinpointUnreachableError: ``unreachable`` (not an AirflowException).
        :raises PinpointApiError: ``api_error`` (not an AirflowException).
        """
        if self.reason == "completed":
            log.info("%s", self.message)
            log.info("Export job %s wrote to %s; pushing it to XCom.", self.job_id, self.s3_url_prefix)
            return self.s3_url_prefix
        log.error("%s", self.message)
        errors: dict[str, type[Exception]] = {"failed": AirflowFailException, "timeout": timeout_error}
        errors["unreachable"] = PinpointUnreachableError
        raise errors.get(self.reason, PinpointApiError)(self.message)


@dataclass(kw_only=True, eq=False)
class ExportJobWait:
    """
    One wait for an export job, polled by a driver until it returns an :class:`Outcome`.

    Every poll counts as an attempt, whatever it met. A poll that was throttled asks for a pause
    of at least ``THROTTLED_MIN_DELAY`` seconds before the next; other transient errors (5xx,
    read timeouts) wait ``waiter_delay`` like any poll. Once every poll for ``UNREACHABLE_AFTER``
    seconds found the endpoint unreachable, or the budget runs out while every poll did, the
    outcome is ``unreachable``. Permanent errors (:class:`PinpointApiError`, ValueError, a job
    of another segment) are raised by :meth:`poll` as they are.

    :param application_id: the Pinpoint ApplicationId.
    :param job_id: the export job's Id, or None to follow the segment's newest export job.
    :param segment_id: the SegmentId; needed without ``job_id``, and checked as the job's owner.
    :param s3_url_prefix: the prefix the job was asked to write to, reported when Pinpoint returns
        an empty Definition.
    :param waiter_delay: seconds between two polls.
    :param max_attempts: polls before the outcome is ``timeout``; None when the driver bounds the
        wait by time (a sensor's ``timeout``).
    :param fail_on_failing: treat JobStatus FAILING as failed.
    :param follow_newest: without ``job_id``, look the newest job up at every poll instead of
        following the first job found by its Id.
    :param started_at: when the wait began, on ``clock``'s scale (default: when its first poll
        that met an error ended).
    :param clock: seconds, monotonic (a setting for tests).
    :param log: where polls are logged.
    """

    application_id: str
    job_id: str | None
    segment_id: str | None = None
    s3_url_prefix: str | None = None
    waiter_delay: float = 30
    max_attempts: int | None = None
    fail_on_failing: bool = False
    follow_newest: bool = False
    started_at: float | None = None
    clock: Callable[[], float] = time.monotonic
    log: Any = field(default_factory=lambda: logging.getLogger(__name__))
    attempts: int = field(default=0, init=False)
    throttled: bool = field(default=False, init=False)
    all_unreachable: bool = field(default=True, init=False)
    unreachable_since: float | None = field(default=None, init=False)
    last_error: PinpointTransientError | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.current_job_id = self.job_id  # the job the last poll read

    @property
    def next_delay(self) -> float:
        """Seconds to pause before the next poll."""
        delay = float(self.waiter_delay)
        return max(delay, THROTTLED_MIN_DELAY) if self.throttled else delay

    def poll(self, hook: PinpointHook) -> Outcome | None:
        """
        Poll once: read the job and decide (GetExportJob; GetSegmentExportJobs without a job id).

        :return: the outcome when the wait is over, else None (pause ``next_delay`` seconds).
        :raises PinpointApiError: a permanent API error (NotFound, Forbidden, a certificate ...).
        :raises ExportJobNotFoundError: the job belongs to another segment.
        """
        self.attempts += 1
        try:
            job = self._read(hook)
            state = None if job is None else job_state(job, fail_on_failing=self.fail_on_failing)
            prefix = self._prefix(hook, job) if job and state and state.outcome == "completed" else None
        except PinpointTransientError as error:
            return self._transient(error, self.clock())  # the time the poll met it
        except Exception:  # a permanent error ends the wait; the endpoint did answer
            self.all_unreachable = False
            raise
        self.throttled, self.all_unreachable, self.unreachable_since = False, False, None
        if job is None or state is None:
            self._log(logging.INFO, f"segment {self.segment_id} has no export job yet.")
            return self._out_of_attempts()
        job_id = self.current_job_id = job.get("Id") or self.current_job_id
        if not self.follow_newest:
            self.job_id = job_id
        if state.outcome == "completed":
            return Outcome("completed", job_id, state.message, prefix)
        if state.outcome == "failed":
            return Outcome("failed", job_id, state.message)
        self._log(logging.WARNING if state.unknown_status else logging.INFO, state.message)
        return self._out_of_attempts()

    def _read(self, hook: PinpointHook) -> dict[str, Any] | None:
        """The job to judge at this poll; None while the segment has no export job yet."""
        if self.job_id is not None and self.segment_id:  # the job must belong to the segment
            return hook.get_segment_export_job(self.application_id, self.segment_id, self.job_id)
        if self.job_id is not None:
            return hook.get_export_job(self.application_id, self.job_id)
        try:
            return hook.get_segment_export_job(self.application_id, str(self.segment_id))
        except ExportJobNotFoundError:
            return None

    def _prefix(self, hook: PinpointHook, job: dict[str, Any]) -> str | None:
        """Where a completed job wrote: its Definition, the prefix asked for, or the segment's job list."""
        prefix = (job.get("Definition") or {}).get("S3UrlPrefix") or self.s3_url_prefix
        if not prefix and self.segment_id:
            prefix = hook.export_s3_url_prefix(self.application_id, self.segment_id, job)
        return prefix

    def _transient(self, error: PinpointTransientError, now: float) -> Outcome | None:
        if self.started_at is None:
            self.started_at = now
        self.last_error = error
        self.throttled = error.reason == "throttled"
        self._log(logging.WARNING, f"{error} The job's state is unknown; asking again.")
        if error.reason != "unreachable":
            self.all_unreachable, self.unreachable_since = False, None
            return self._out_of_attempts()
        if self.unreachable_since is None:
            self.unreachable_since = self.started_at if self.all_unreachable else now
        if now - (now if self.unreachable_since is None else self.unreachable_since) >= UNREACHABLE_AFTER:
            return self.unreachable(now)
        return self._out_of_attempts()

    def unreachable(self, now: float | None = None) -> Outcome:
        """The ``unreachable`` outcome: names the endpoint's last error and the end of support."""
        since = self.unreachable_since if self.unreachable_since is not None else self.started_at
        seconds = (self.clock() if now is None else now) - float(since or 0)
        return Outcome(
            "unreachable",
            self.current_job_id,
            f"The Pinpoint endpoint could not be reached for {seconds:.0f} s ({self.attempts} polls); "
            f"the last error: {self.last_error}",
        )

    def _out_of_attempts(self) -> Outcome | None:
        if self.max_attempts is None or self.attempts < self.max_attempts:
            return None
        if self.all_unreachable and self.last_error is not None:
            return self.unreachable()
        job_id = self.current_job_id
        what = f"Export job {job_id}" if job_id else f"An export job of segment {self.segment_id}"
        return Outcome(
            "timeout",
            job_id,
            f"{what} of application {self.application_id} was not finished after "
            f"{self.max_attempts} polls {self.waiter_delay:g} s apart "
            f"(about {self.max_attempts * self.waiter_delay:.0f} s); it keeps running in Pinpoint.",
        )

    def _log(self, level: int, message: str) -> None:
        budget = f"/{self.max_attempts}" if self.max_attempts is not None else ""
        self.log.log(level, "Poll %d%s: %s", self.attempts, budget, message)
