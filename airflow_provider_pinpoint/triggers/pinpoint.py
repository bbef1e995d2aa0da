"""SegmentExportJobTrigger: waits for a Pinpoint export job off the worker, in the triggerer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow_provider_pinpoint._compat import AirflowFailException, BaseTrigger, TriggerEvent
from airflow_provider_pinpoint.hooks.pinpoint import (
    ExportJobNotFoundError,
    PinpointApiError,
    PinpointHook,
    PinpointTransientError,
    job_state,
)

#: The shortest and longest pause, in seconds, before asking again after throttling or a 5xx.
MIN_TRANSIENT_BACKOFF = 1.0
MAX_TRANSIENT_BACKOFF = 300.0


def check_event(event: Any, *, timeout_error: type[Exception]) -> dict[str, Any]:
    """
    Read the event a task resumes with: return it on success, raise the matching error otherwise.

    :param event: what SegmentExportJobTrigger sent (None or anything else is a failure).
    :param timeout_error: the exception class for reason ``"timeout"``.
    :return: the success event: ``{"status": "success", "job_id", "s3_url_prefix"}``.
    :raises AirflowFailException: reason ``"failed"``: the job FAILED.
    :raises PinpointApiError: reason ``"api_error"``, or an event that is missing or malformed.
    """
    if not isinstance(event, dict) or event.get("status") not in {"success", "error"}:
        raise PinpointApiError(f"SegmentExportJobTrigger sent no usable event: {event!r}")
    if event["status"] == "success":
        return event
    message = event.get("message") or f"SegmentExportJobTrigger reported an error: {event!r}"
    if event.get("reason") == "failed":
        raise AirflowFailException(message)
    if event.get("reason") == "timeout":
        raise timeout_error(message)
    raise PinpointApiError(message)


class SegmentExportJobTrigger(BaseTrigger):
    """
    Poll an export job with GetExportJob until its JobStatus is terminal, then fire one event.

    Without a ``job_id`` it first waits for the segment to have an export job (GetSegmentExportJobs
    at every poll; no job yet counts as running), then follows the newest one with GetExportJob.

    It decides with the same job-state rule as the sensor and the operator. Every AWS call (and
    the connection lookup before it) runs in a worker thread, so a slow or throttled poll never
    blocks the triggerer's event loop; aiobotocore is not needed.

    :param application_id: the Pinpoint ApplicationId.
    :param job_id: the export job's Id, or None to follow the segment's newest export job.
    :param s3_url_prefix: the prefix the job was asked to write to; reported when Pinpoint returns
        an empty Definition. When None, the prefix is looked up in the segment's job list
        (needs ``segment_id``).
    :param waiter_delay: seconds between two polls.
    :param waiter_max_attempts: polls that read a non-terminal state before giving up. Polls that
        met throttling, a 5xx or a connection error (after botocore's own retries) are tried again
        after waiter_delay seconds (at least 1), doubling each time up to 300, and are not counted.
    :param fail_on_failing: treat JobStatus FAILING as failed instead of waiting for FAILED.
    :param segment_id: the SegmentId; needed when ``job_id`` is None.
    :param aws_conn_id: the Airflow connection; None uses boto3's default credential chain.
    :param region_name: the AWS Region, or None for the connection's.
    :param verify: whether (or with which CA bundle) to verify SSL certificates.
    :param botocore_config: botocore client configuration as a dict.

    Events (one per run), all JSON-native:
    ``{"status": "success", "job_id", "s3_url_prefix"}``;
    ``{"status": "error", "reason": "failed" | "timeout" | "api_error", "job_id", "message"}``.
    """

    def __init__(
        self,
        *,
        application_id: str,
        job_id: str | None,
        s3_url_prefix: str | None = None,
        waiter_delay: float = 30,
        waiter_max_attempts: int = 480,
        fail_on_failing: bool = False,
        segment_id: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.application_id = application_id
        self.job_id = job_id
        self.s3_url_prefix = s3_url_prefix
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.fail_on_failing = fail_on_failing
        self.segment_id = segment_id
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the keyword arguments that re-create this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "application_id": self.application_id,
                "job_id": self.job_id,
                "s3_url_prefix": self.s3_url_prefix,
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "fail_on_failing": self.fail_on_failing,
                "segment_id": self.segment_id,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def hook(self) -> PinpointHook:
        """A PinpointHook with every setting the task had."""
        return PinpointHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def _current_job(self, hook: PinpointHook, job_id: str | None) -> dict[str, Any] | None:
        """The job to judge at this poll; None while the segment has no export job yet."""
        if job_id is not None and self.segment_id:  # the job must belong to the segment
            return hook.get_segment_export_job(self.application_id, self.segment_id, job_id)
        if job_id is not None:
            return hook.get_export_job(self.application_id, job_id)
        try:
            return hook.get_segment_export_job(self.application_id, str(self.segment_id))
        except ExportJobNotFoundError:
            return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a terminal JobStatus, the attempts run out, or a permanent API error."""
        try:
            hook = self.hook()
        except Exception as error:  # e.g. a botocore_config key botocore does not know
            yield self._error("api_error", f"Could not build the Pinpoint client: {error}", self.job_id)
            return
        job_id = self.job_id
        attempt = 0
        retries = 0
        while attempt < self.waiter_max_attempts:
            try:
                job = await asyncio.to_thread(self._current_job, hook, job_id)
                state = None if job is None else job_state(job, fail_on_failing=self.fail_on_failing)
                if job is not None and state is not None and state.outcome == "completed":
                    prefix = await asyncio.to_thread(self._prefix, hook, job)
            except PinpointTransientError as error:
                retries += 1
                base = max(float(self.waiter_delay), MIN_TRANSIENT_BACKOFF)
                delay = min(base * 2 ** min(retries - 1, 10), MAX_TRANSIENT_BACKOFF)
                self.log.warning("Transient error #%d, polling again in %.1f s: %s", retries, delay, error)
                await asyncio.sleep(delay)
                continue
            except Exception as error:  # permanent API errors, and a connection that cannot be read
                yield self._error("api_error", str(error), job_id)
                return
            attempt += 1
            retries = 0
            if job is None or state is None:
                self.log.info(
                    "Poll %d/%d: segment %s has no export job yet.",
                    attempt,
                    self.waiter_max_attempts,
                    self.segment_id,
                )
            else:
                job_id = job.get("Id") or job_id
                if state.outcome == "completed":
                    yield TriggerEvent({"status": "success", "job_id": job_id, "s3_url_prefix": prefix})
                    return
                if state.outcome == "failed":
                    yield self._error("failed", state.message, job_id)
                    return
                log = self.log.warning if state.unknown_status else self.log.info
                log("Poll %d/%d: %s", attempt, self.waiter_max_attempts, state.message)
            if attempt < self.waiter_max_attempts:
                await asyncio.sleep(self.waiter_delay)
        what = f"Export job {job_id}" if job_id else f"An export job of segment {self.segment_id}"
        yield self._error(
            "timeout",
            f"{what} of application {self.application_id} was not finished after "
            f"{self.waiter_max_attempts} polls {self.waiter_delay} s apart "
            f"(about {self.waiter_max_attempts * self.waiter_delay:.0f} s); it keeps running in Pinpoint.",
            job_id,
        )

    def _prefix(self, hook: PinpointHook, job: dict[str, Any]) -> str | None:
        """Where a completed job wrote: its Definition, the prefix asked for, or the segment's job list."""
        prefix = (job.get("Definition") or {}).get("S3UrlPrefix") or self.s3_url_prefix
        if not prefix and self.segment_id:
            prefix = hook.export_s3_url_prefix(self.application_id, self.segment_id, job)
        return prefix

    @staticmethod
    def _error(reason: str, message: str, job_id: str | None) -> TriggerEvent:
        return TriggerEvent({"status": "error", "reason": reason, "job_id": job_id, "message": message})
