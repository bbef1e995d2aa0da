"""PinpointHook: every Amazon Pinpoint call the provider makes, and the one rule for job state."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Literal

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ProxyConnectionError,
    SSLError,
)

#: The JobStatus that means the export finished and wrote all its files.
JOB_SUCCESS_STATES: frozenset[str] = frozenset({"COMPLETED"})
#: The JobStatus that means the export failed (one or more pieces could not be processed).
JOB_FAILURE_STATES: frozenset[str] = frozenset({"FAILED"})
#: The documented JobStatus values of a job that has not finished yet.
JOB_INTERMEDIATE_STATES: frozenset[str] = frozenset(
    {
        "CREATED",
        "PREPARING_FOR_INITIALIZATION",
        "INITIALIZING",
        "PROCESSING",
        "PENDING_JOB",
        "COMPLETING",
        "FAILING",
    }
)
#: JobStatus values after which the job never changes again.
JOB_TERMINAL_STATES: frozenset[str] = JOB_SUCCESS_STATES | JOB_FAILURE_STATES

#: The most pages one listing may read before it stops with an error.
MAX_PAGES = 10_000
#: Tries of CreateExportJob, and the pause in seconds before the second (doubling after).
CREATE_ATTEMPTS = 4
CREATE_RETRY_DELAY = 2.0

END_OF_SUPPORT_HINT = (
    "AWS ended support for Amazon Pinpoint segments and export jobs on 2026-10-30; "
    "on AWS this error is a likely consequence."
)

_THROTTLING_CODES = frozenset({"TooManyRequestsException", "RequestLimitExceeded", "SlowDown"})
_TRANSIENT_CODES = frozenset(
    {
        "InternalServerErrorException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_END_OF_SUPPORT_CODES = frozenset(
    {"ForbiddenException", "NotFoundException", "AccessDeniedException", "UnrecognizedClientException", "404"}
)
_S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?")
_ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}", re.ASCII)


class PinpointError(Exception):
    """Base class of the errors the hook raises for a Pinpoint call that did not succeed."""


class PinpointApiError(PinpointError):
    """
    A permanent error from the Pinpoint API: asking again will not help.

    Not an AirflowException, so ``soft_fail`` never turns it into a skip. The message names the
    operation, what it was called for, the AWS error code and message, and the RequestID.
    """

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class PinpointTransientError(PinpointError):
    """
    A throttled, 5xx, or connection failure left after botocore's own retries: ask again later.

    It never means success or failure of the export job: the job's state is unknown.

    :ivar reason: ``"throttled"`` (429 or a throttling code), ``"unreachable"`` (no connection:
        host not found, connection refused or timed out, proxy error) or ``"transient"`` (a 5xx,
        a read timeout, a dropped connection: the host answered or was reached).
    """

    def __init__(
        self, message: str, *, reason: Literal["throttled", "transient", "unreachable"] = "transient"
    ):
        super().__init__(message)
        self.reason = reason


class PinpointUnreachableError(PinpointError):
    """
    Every poll of a wait found the Pinpoint endpoint unreachable, for ``UNREACHABLE_AFTER`` seconds
    or until the wait's own budget ran out. Not an AirflowException, so ``soft_fail`` never hides it.
    """


class ExportJobTimeoutError(PinpointError, TimeoutError):
    """The export job was still running after the operator's waiter_max_attempts checks."""


class ExportJobNotFoundError(PinpointError, LookupError):
    """The segment has no export job yet, or the job asked for belongs to another segment."""


# --------------------------------------------------------------------------------------------
# Input validation: called on rendered values before any API call.
# --------------------------------------------------------------------------------------------
def validate_id(name: str, value: Any, *, optional: bool = False) -> None:
    """
    Check that an id argument is a non-blank string without surrounding white space.

    The strings ``"None"``, ``"null"`` and ``"undefined"`` (any case) are refused too: they are
    what a template renders for a missing value, such as an XCom that was never pushed; so is a
    value that still holds Jinja markup.

    :param name: the parameter's name, used in the error.
    :param value: the rendered value.
    :param optional: whether None is allowed.
    :raises ValueError: naming the parameter and the value.
    """
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{name} must be a non-empty string without surrounding spaces, got {value!r}")
    if value.lower() in {"none", "null", "undefined"}:
        raise ValueError(f"{name} rendered to {value!r}: the template found no value (an empty XCom?)")
    if "{{" in value or "{%" in value:
        raise ValueError(f"{name} is an unrendered template: {value!r}")


def validate_page_size(page_size: Any) -> None:
    """
    Check ``page_size``: None or an int of at least 1 (a bool is refused).

    :raises ValueError: naming ``page_size`` and the value.
    """
    if page_size is None:
        return
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise ValueError(f"page_size must be an int >= 1 or None, got {page_size!r}")


def validate_s3_url_prefix(s3_url_prefix: Any, name: str = "s3_url_prefix") -> tuple[str, str]:
    """
    Check an S3 URL of the form ``s3://bucket`` or ``s3://bucket/prefix``.

    :return: ``(bucket, key_prefix)``; the key prefix has no leading slash and may be empty.
    :raises ValueError: naming the parameter and the value.
    """
    match = _S3_URL.fullmatch(s3_url_prefix) if isinstance(s3_url_prefix, str) else None
    if not match:
        raise ValueError(
            f"{name} must look like 's3://bucket' or 's3://bucket/prefix', got {s3_url_prefix!r}"
        )
    return match["bucket"], (match["key"] or "")


def validate_role_arn(role_arn: Any) -> None:
    """
    Check that ``role_arn`` is an IAM role ARN (``arn:aws:iam::123456789012:role/name``).

    :raises ValueError: naming ``role_arn`` and the value.
    """
    if not isinstance(role_arn, str) or not _ROLE_ARN.fullmatch(role_arn):
        raise ValueError(
            f"role_arn must be an IAM role ARN like 'arn:aws:iam::123456789012:role/name', got {role_arn!r}"
        )


def validate_segment_version(segment_version: Any) -> None:
    """
    Check ``segment_version``: None or an int of at least 1 (a bool is refused).

    :raises ValueError: naming ``segment_version`` and the value.
    """
    if segment_version is None:
        return
    if isinstance(segment_version, bool) or not isinstance(segment_version, int) or segment_version < 1:
        raise ValueError(f"segment_version must be an int >= 1 or None, got {segment_version!r}")


# --------------------------------------------------------------------------------------------
# The one rule for job state.
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobState:
    """
    What an ExportJobResponse means for a task waiting on it.

    :ivar outcome: ``"running"``, ``"completed"`` or ``"failed"``.
    :ivar job_status: the JobStatus as Pinpoint returned it.
    :ivar message: a one-line progress report (running) or the failure details (failed).
    :ivar unknown_status: True when JobStatus is not one of today's documented values.
    """

    outcome: Literal["running", "completed", "failed"]
    job_status: str
    message: str
    unknown_status: bool = False


def job_state(job: dict[str, Any], *, fail_on_failing: bool = False) -> JobState:
    """
    Decide what an ExportJobResponse means: the single rule the sensor, operator and trigger share.

    COMPLETED is completed; FAILED is failed; FAILING is failed only with ``fail_on_failing``
    (Pinpoint's own samples wait on it until FAILED); any other value, including ones not in
    today's enum, is running.

    :param job: an ExportJobResponse dict (as returned by GetExportJob).
    :param fail_on_failing: treat FAILING as failed instead of waiting for FAILED.
    :return: a :class:`JobState`.
    """
    status = str(job.get("JobStatus") or "UNKNOWN")
    job_id = job.get("Id", "?")
    if status in JOB_SUCCESS_STATES:
        return JobState("completed", status, f"Export job {job_id} COMPLETED ({_progress(job)}).")
    if status in JOB_FAILURE_STATES or (fail_on_failing and status == "FAILING"):
        return JobState("failed", status, failure_message(job))
    unknown = status not in JOB_INTERMEDIATE_STATES
    note = " (not a documented JobStatus; still waiting)" if unknown else ""
    return JobState("running", status, f"Export job {job_id} is {status}{note}: {_progress(job)}.", unknown)


def _progress(job: dict[str, Any]) -> str:
    completed = job.get("CompletedPieces", "?")
    total = job.get("TotalPieces", "?")
    return f"{completed}/{total} pieces completed, {job.get('TotalProcessed', 0)} endpoints processed"


def failure_message(job: dict[str, Any]) -> str:
    """
    The failure details of an export job: id, status, counts and the first 5 Failures entries.

    :param job: an ExportJobResponse dict.
    :return: a message for the task log and the raised exception.
    """
    raw = job.get("Failures") or []
    failures = [raw] if isinstance(raw, str) else list(raw)
    shown = "; ".join(str(f) for f in failures[:5]) or "none reported"
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    return (
        f"Pinpoint export job {job.get('Id', '?')} of application {job.get('ApplicationId', '?')} "
        f"ended {job.get('JobStatus')}: TotalFailures={job.get('TotalFailures', '?')}, "
        f"FailedPieces={job.get('FailedPieces', '?')}/{job.get('TotalPieces', '?')}. "
        f"Failures: {shown}{more}"
    )


def aware(when: datetime) -> datetime:
    """``when`` with UTC as its time zone if it has none."""
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def creation_time(job: dict[str, Any]) -> datetime | None:
    """
    A job's CreationDate (an ISO-8601 string in the API) as an aware datetime.

    :param job: an ExportJobResponse dict.
    :return: the datetime, or None when CreationDate is missing or not ISO-8601.
    """
    raw = str(job.get("CreationDate") or "")
    try:
        return aware(datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in {"Z", "z"} else raw))
    except ValueError:
        return None


def newest_key(job: dict[str, Any]) -> tuple[datetime, str]:
    """Sort key that orders jobs oldest to newest: CreationDate (unreadable ones first), then Id."""
    return creation_time(job) or datetime.min.replace(tzinfo=timezone.utc), str(job.get("Id", ""))


def classify(error: BaseException) -> Literal["throttled", "transient", "unreachable", "permanent"]:
    """
    Decide what an error from a botocore client call means: the one classifier of the package.

    ``throttled``: a 429 or a throttling code; ``unreachable``: no connection could be made (host
    not found, refused, connect timeout, proxy error); ``transient``: a 5xx, a read timeout or a
    dropped connection; ``permanent``: anything else, a certificate that fails verification
    included, since asking again cannot fix it.

    :param error: an exception raised by a botocore client call.
    """
    if isinstance(error, SSLError):
        return "permanent" if "CERTIFICATE_VERIFY_FAILED" in str(error).upper() else "transient"
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)):
        return "unreachable"
    if isinstance(error, (ConnectionError, HTTPClientError)):
        return "transient"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status == 429 or code == "429" or "Throttl" in code or code in _THROTTLING_CODES:
            return "throttled"
        if (
            code in _TRANSIENT_CODES
            or code in {"500", "502", "503", "504"}
            or (isinstance(status, int) and status >= 500)
        ):
            return "transient"
    return "permanent"


def is_transient(error: BaseException) -> bool:
    """
    Whether an error from botocore means "state unknown, ask again": throttling, 5xx, connection.

    :param error: an exception raised by a botocore client call.
    """
    return classify(error) != "permanent"


def _request_id(error: ClientError) -> str | None:
    return error.response.get("RequestID") or error.response.get("ResponseMetadata", {}).get("RequestId")


def describe_client_error(operation: str, subject: str, error: ClientError) -> PinpointApiError:
    """
    Turn a permanent ClientError into a :class:`PinpointApiError` with a message a user can act on.

    :param operation: the Pinpoint API operation, e.g. ``GetExportJob``.
    :param subject: what it was called for, e.g. ``application 'a1', job 'j1'``.
    """
    err = error.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    request_id = _request_id(error)
    message = f"Pinpoint {operation} failed for {subject}: {code}: {err.get('Message') or 'no message'}"
    message += f" (RequestID: {request_id or 'unknown'})."
    if code in _END_OF_SUPPORT_CODES:
        message += " " + END_OF_SUPPORT_HINT
    return PinpointApiError(message, code=code, request_id=request_id)


class PinpointHook(AwsBaseHook):
    """
    Interact with Amazon Pinpoint export jobs, and read exports back from Amazon S3.

    A thin wrapper around the boto3 ``pinpoint`` client (signing name ``mobiletargeting``); the
    client defaults to botocore's ``standard`` retry mode (throttling and 5xx retried with
    backoff) unless the connection or ``config`` sets retries, or ``AWS_RETRY_MODE`` is set.

    Additional arguments (such as ``aws_conn_id``, ``region_name``, ``verify``, ``config``) are
    passed down to :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`.

    :param max_pool_connections: the least ``max_pool_connections`` the client gets (None keeps
        the configured value), for a client shared by that many threads.

    The Pinpoint methods raise :class:`PinpointApiError` for a permanent API error,
    :class:`PinpointTransientError` when throttling, 5xx or connection errors outlast the
    retries, and ``ValueError`` for bad arguments before any call. Errors that are not answers
    from Pinpoint (missing credentials, S3 errors while reading an export) pass through as
    botocore raised them.
    """

    def __init__(self, *args: Any, max_pool_connections: int | None = None, **kwargs: Any) -> None:
        kwargs["client_type"] = "pinpoint"
        super().__init__(*args, **kwargs)
        self.max_pool_connections = max_pool_connections

    @cached_property
    def conn(self):  # type: ignore[override]
        """The boto3 pinpoint client (cached), with ``standard`` retries unless configured otherwise."""
        config = self.config
        if config.retries is None and not os.environ.get("AWS_RETRY_MODE"):
            config = config.merge(Config(retries={"mode": "standard"}))
        if self.max_pool_connections and (config.max_pool_connections or 10) < self.max_pool_connections:
            config = config.merge(Config(max_pool_connections=self.max_pool_connections))
        return self.get_client_type(region_name=self.region_name, config=config)

    @cached_property
    def conn_without_retries(self):
        """The pinpoint client (cached) that never re-sends a request, for non-idempotent CreateExportJob."""
        config = self.config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        return self.get_client_type(region_name=self.region_name, config=config)

    def _call(self, operation: str, subject: str, method: Callable[..., dict], **kwargs: Any) -> dict:
        try:
            return method(**kwargs)
        except (ClientError, ConnectionError, HTTPClientError) as error:
            kind = classify(error)
            if kind != "permanent":
                raise PinpointTransientError(
                    f"Pinpoint {operation} for {subject} did not answer ({_short(error)}): {_WHAT[kind]}",
                    reason=kind,
                ) from error
            if isinstance(error, ClientError):
                raise describe_client_error(operation, subject, error) from error
            if isinstance(error, SSLError):
                raise PinpointApiError(
                    f"Pinpoint {operation} for {subject} failed: the certificate of "
                    f"{error.kwargs.get('endpoint_url')} did not verify ({error.kwargs.get('error')}). "
                    "Asking again will not help: check the connection's verify setting (a CA bundle path "
                    "or AWS_CA_BUNDLE) or a proxy that inspects TLS."
                ) from error
            raise

    # ---------------------------------------------------------------- export jobs
    def iter_segment_export_jobs(
        self, application_id: str, segment_id: str, *, page_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """
        Yield every export job of a segment, one page in memory at a time.

        Calls the Pinpoint API operation GetSegmentExportJobs once per page, passing
        ``ExportJobsResponse.NextToken`` back as ``Token`` and ``PageSize`` as a string. Empty
        pages with a token are followed; a missing or empty NextToken ends the listing. The order
        of the jobs is Pinpoint's, which is undocumented.

        :param application_id: the Pinpoint ApplicationId (project id).
        :param segment_id: the SegmentId.
        :param page_size: jobs per page (an int >= 1); None leaves it to Pinpoint.
        :return: an iterator of ExportJobResponse dicts.
        :raises ValueError: for a blank id or a bad page_size, at once, before any call; while
            iterating, when Pinpoint repeats a NextToken or the listing passes 10,000 pages.
        """
        validate_id("application_id", application_id)
        validate_id("segment_id", segment_id)
        validate_page_size(page_size)
        params: dict[str, Any] = {"ApplicationId": application_id, "SegmentId": segment_id}
        if page_size is not None:
            params["PageSize"] = str(page_size)
        return self._pages(f"application {application_id!r}, segment {segment_id!r}", params)

    def _pages(self, subject: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self._call(
                "GetSegmentExportJobs", subject, self.conn.get_segment_export_jobs, **params
            ).get("ExportJobsResponse", {})
            yield from page.get("Item") or []
            token = page.get("NextToken")
            if not token:
                return
            if token in seen:
                raise ValueError(
                    f"GetSegmentExportJobs for {subject} returned NextToken {token!r} a second time; "
                    "stopping instead of looping"
                )
            seen.add(token)
            params["Token"] = token
        raise ValueError(f"GetSegmentExportJobs for {subject} returned more than {MAX_PAGES} pages; stopping")

    def get_segment_export_jobs(
        self, application_id: str, segment_id: str, *, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """
        Return every export job of a segment, all pages (GetSegmentExportJobs).

        The arguments, errors and order are those of :meth:`iter_segment_export_jobs`.

        :return: a list of ExportJobResponse dicts.
        """
        return list(self.iter_segment_export_jobs(application_id, segment_id, page_size=page_size))

    def get_export_job(self, application_id: str, job_id: str) -> dict[str, Any]:
        """
        Return one export job: a single call of the Pinpoint API operation GetExportJob.

        :param application_id: the Pinpoint ApplicationId.
        :param job_id: the export job's Id.
        :return: the ExportJobResponse dict (JobStatus, Definition, piece counts, ...).
        :raises PinpointApiError: NotFoundException for an unknown application or job, and every
            other permanent API error.
        """
        validate_id("application_id", application_id)
        validate_id("job_id", job_id)
        return self._get_export_job(application_id, job_id, f"application {application_id!r}, job {job_id!r}")

    def _get_export_job(self, application_id: str, job_id: str, subject: str) -> dict[str, Any]:
        response = self._call(
            "GetExportJob", subject, self.conn.get_export_job, ApplicationId=application_id, JobId=job_id
        )
        return response["ExportJobResponse"]

    def get_segment_export_job(
        self, application_id: str, segment_id: str, job_id: str | None = None
    ) -> dict[str, Any]:
        """
        Return one export job of a segment: the given job, or the segment's newest.

        With ``job_id`` this is one GetExportJob call. Without, it lists the segment's jobs
        (GetSegmentExportJobs, all pages) and picks the newest by CreationDate; Pinpoint's list
        order is undocumented and never relied on. A job whose CreationDate cannot be read counts
        as the oldest, with a warning.

        :param application_id: the Pinpoint ApplicationId.
        :param segment_id: the SegmentId.
        :param job_id: the export job's Id, or None for the newest export job of the segment.
        :return: an ExportJobResponse dict.
        :raises ExportJobNotFoundError: the segment has no export job, or the job belongs to
            another segment; the message names the application, segment and job.
        :raises PinpointApiError: NotFound for an unknown job (the message names the application,
            segment and job) and every other permanent API error.
        """
        validate_id("application_id", application_id)
        validate_id("segment_id", segment_id)
        validate_id("job_id", job_id, optional=True)
        if job_id is not None:
            subject = f"application {application_id!r}, segment {segment_id!r}, job {job_id!r}"
            job = self._get_export_job(application_id, job_id, subject)
            owner = (job.get("Definition") or {}).get("SegmentId")
            if owner and owner != segment_id:
                raise ExportJobNotFoundError(
                    f"Export job {job_id!r} of application {application_id!r} belongs to segment "
                    f"{owner!r}, not to segment {segment_id!r}"
                )
            return job
        newest: dict[str, Any] | None = None
        for job in self.iter_segment_export_jobs(application_id, segment_id):
            if creation_time(job) is None:
                self.log.warning(
                    "Export job %s has no readable CreationDate %r.", job.get("Id"), job.get("CreationDate")
                )
            if newest is None or newest_key(job) > newest_key(newest):
                newest = job
        if newest is None:
            raise ExportJobNotFoundError(
                f"Segment {segment_id!r} of application {application_id!r} has no export job (job_id=None)"
            )
        return newest

    def export_s3_url_prefix(self, application_id: str, segment_id: str, job: dict[str, Any]) -> str | None:
        """
        The S3UrlPrefix an export job writes to.

        Taken from the job's Definition; when Pinpoint returns an empty Definition (its developer
        guide's own sample does), from the job's entry in GetSegmentExportJobs.

        :param application_id: the Pinpoint ApplicationId.
        :param segment_id: the SegmentId the job exports.
        :param job: the ExportJobResponse dict.
        :return: the prefix, or None when Pinpoint reports it nowhere.
        :raises PinpointTransientError: the listing was throttled (ask again).
        """
        prefix = (job.get("Definition") or {}).get("S3UrlPrefix")
        if prefix:
            return prefix
        jobs = self.iter_segment_export_jobs(application_id, segment_id)
        entry = next((j for j in jobs if j.get("Id") == job.get("Id")), {})
        return (entry.get("Definition") or {}).get("S3UrlPrefix") or None

    def create_segment_export_job(
        self,
        application_id: str,
        segment_id: str,
        role_arn: str,
        s3_url_prefix: str,
        *,
        segment_version: int | None = None,
    ) -> dict[str, Any]:
        """
        Start exporting a segment's endpoints to S3: the Pinpoint API operation CreateExportJob.

        CreateExportJob is not idempotent, so the request is never re-sent blindly: a throttled
        request (which Pinpoint refused) is sent again after a pause, up to ``CREATE_ATTEMPTS``
        tries ``CREATE_RETRY_DELAY`` seconds apart, doubling. After a 5xx, a timeout or a dropped
        connection Pinpoint may have started the job, so it raises instead; the operator's retry
        adopts a running export to the same prefix.

        :param application_id: the Pinpoint ApplicationId.
        :param segment_id: the SegmentId to export.
        :param role_arn: the IAM role Pinpoint assumes to write to the bucket.
        :param s3_url_prefix: where the files go, ``s3://bucket/prefix``.
        :param segment_version: the segment version to export; None for the latest.
        :return: the new job's ExportJobResponse dict (Id, JobStatus, Definition, ...).
        :raises ValueError: for bad arguments, before the call.
        :raises PinpointTransientError: every try was throttled, or a 5xx / timeout / dropped
            connection left it unknown whether the job started.
        """
        validate_id("application_id", application_id)
        validate_id("segment_id", segment_id)
        validate_role_arn(role_arn)
        validate_s3_url_prefix(s3_url_prefix)
        validate_segment_version(segment_version)
        request: dict[str, Any] = {"RoleArn": role_arn, "S3UrlPrefix": s3_url_prefix, "SegmentId": segment_id}
        if segment_version is not None:
            request["SegmentVersion"] = segment_version
        subject = f"application {application_id!r}, segment {segment_id!r}"
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                response = self._call(
                    "CreateExportJob",
                    subject,
                    self.conn_without_retries.create_export_job,
                    ApplicationId=application_id,
                    ExportJobRequest=request,
                )
                return response["ExportJobResponse"]
            except PinpointTransientError as error:
                cause = error.__cause__
                if error.reason != "throttled":
                    raise PinpointTransientError(
                        f"{error} Pinpoint may have started the export anyway, so the request is not "
                        "sent again: retry the task, and it adopts a running export to the same prefix."
                    ) from cause
                if attempt == CREATE_ATTEMPTS:
                    raise PinpointTransientError(
                        f"{error} Throttled on all {CREATE_ATTEMPTS} tries; no export job was started."
                    ) from cause
                self.log.warning("%s Sending it again (try %d of %d).", error, attempt + 1, CREATE_ATTEMPTS)
                time.sleep(CREATE_RETRY_DELAY * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------- reading an export
    @cached_property
    def _s3_hook(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self._config,
        )

    def list_export_files(self, s3_url_prefix: str) -> list[str]:
        """
        List the export's files: every ``.gz`` object under the prefix, in sub-folders too.

        Uses S3 ListObjectsV2 through the Amazon provider's S3Hook with this hook's connection.
        Key names under the prefix are undocumented, so the listing is recursive; the prefix is
        taken as a folder (``run-1`` never matches ``run-10``).

        :param s3_url_prefix: the export job's S3UrlPrefix, ``s3://bucket/prefix``.
        :return: sorted ``s3://bucket/key`` URLs.
        :raises ValueError: for a malformed prefix, before any call.
        """
        bucket, prefix = validate_s3_url_prefix(s3_url_prefix)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        keys = self._s3_hook.list_keys(bucket_name=bucket, prefix=prefix) or []
        return sorted(f"s3://{bucket}/{key}" for key in keys if key.lower().endswith(".gz"))

    def iter_exported_endpoints(self, s3_url_prefix: str) -> Iterator[dict[str, Any]]:
        """
        Yield the endpoint definitions of an export, streamed one file at a time.

        Each file is gzip-compressed newline-delimited JSON; it is decompressed while it is read
        (S3 GetObject), so at most one file's stream is open and no file is held whole in memory.
        Record contents are never logged: they hold customers' addresses.

        :param s3_url_prefix: the export job's S3UrlPrefix, ``s3://bucket/prefix``.
        :return: an iterator of endpoint dicts (Id, ChannelType, Address, ...).
        :raises ValueError: for a malformed prefix, at once; while iterating, for a file that is
            not gzip, is cut short, or has a line that is not a JSON object (the message names the
            file and line number, never the content).
        """
        files = self.list_export_files(s3_url_prefix)
        return self._records(files)

    def _records(self, files: list[str]) -> Iterator[dict[str, Any]]:
        for url in files:
            bucket, key = validate_s3_url_prefix(url)
            body = self._s3_hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"]
            number = 0
            try:
                with gzip.GzipFile(fileobj=body, mode="rb") as stream:
                    for number, line in enumerate(stream, start=1):
                        if not line.strip():
                            continue
                        try:
                            record = json.loads(line)
                        except ValueError:
                            record = None
                        if not isinstance(record, dict):
                            raise ValueError(f"{url} line {number} is not a JSON endpoint record")
                        yield record
            except (OSError, EOFError, zlib.error) as error:
                raise ValueError(
                    f"{url} is not a complete gzip file (after line {number}): {type(error).__name__}"
                ) from None
            finally:
                body.close()


_WHAT = {
    "throttled": "throttled.",
    "transient": "a server error or no answer in time.",
    "unreachable": f"the endpoint cannot be reached. {END_OF_SUPPORT_HINT}",
}


def _short(error: BaseException) -> str:
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message')}, RequestID {_request_id(error)}"
    return f"{type(error).__name__}: {error}"
