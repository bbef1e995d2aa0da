"""PinpointHook: every Amazon Pinpoint call the provider makes, and the one rule for job state."""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from airflow_provider_pinpoint._validation import (
    check_export_request,
    check_id,
    check_positive_int,
    check_s3_url,
)
from airflow_provider_pinpoint.exceptions import (  # the errors stay importable from here, as before
    END_OF_SUPPORT_HINT as END_OF_SUPPORT_HINT,
    ExportJobNotFoundError as ExportJobNotFoundError,
    ExportJobTimeoutError as ExportJobTimeoutError,
    PinpointApiError as PinpointApiError,
    PinpointError as PinpointError,
    PinpointTransientError as PinpointTransientError,
    PinpointUnreachableError as PinpointUnreachableError,
    is_transient as is_transient,
    pinpoint_error,
)

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from mypy_boto3_pinpoint import PinpointClient

#: The JobStatus that means the export finished and wrote all its files.
JOB_SUCCESS_STATES: frozenset[str] = frozenset({"COMPLETED"})
#: The JobStatus that means the export failed (one or more pieces could not be processed).
JOB_FAILURE_STATES: frozenset[str] = frozenset({"FAILED"})
#: The documented JobStatus values of a job that has not finished yet.
JOB_INTERMEDIATE_STATES: frozenset[str] = frozenset(
    {"CREATED", "PREPARING_FOR_INITIALIZATION", "INITIALIZING", "PROCESSING", "PENDING_JOB"}
    | {"COMPLETING", "FAILING"}
)
#: JobStatus values after which the job never changes again.
JOB_TERMINAL_STATES: frozenset[str] = JOB_SUCCESS_STATES | JOB_FAILURE_STATES

#: The most pages one listing may read before it stops with an error.
MAX_PAGES = 10_000
#: Tries of CreateExportJob, and the pause in seconds before the second (doubling after).
CREATE_ATTEMPTS = 4
CREATE_RETRY_DELAY = 2.0


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
    :return: a :class:`JobState`; a failed one's message has the id, status, counts and the first
        5 Failures entries.
    """
    status, job_id = str(job.get("JobStatus") or "UNKNOWN"), job.get("Id", "?")
    progress = (
        f"{job.get('CompletedPieces', '?')}/{job.get('TotalPieces', '?')} pieces completed, "
        f"{job.get('TotalProcessed', 0)} endpoints processed"
    )
    if status in JOB_SUCCESS_STATES:
        return JobState("completed", status, f"Export job {job_id} COMPLETED ({progress}).")
    if status in JOB_FAILURE_STATES or (fail_on_failing and status == "FAILING"):
        raw = job.get("Failures") or []
        failures = [raw] if isinstance(raw, str) else list(raw)
        shown = "; ".join(str(f) for f in failures[:5]) or "none reported"
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        counts = f"TotalFailures={job.get('TotalFailures', '?')}, FailedPieces={job.get('FailedPieces', '?')}"
        what = f"Pinpoint export job {job_id} of application {job.get('ApplicationId', '?')} ended {status}"
        message = f"{what}: {counts}/{job.get('TotalPieces', '?')}. Failures: {shown}{more}"
        return JobState("failed", status, message)
    unknown = status not in JOB_INTERMEDIATE_STATES
    note = " (not a documented JobStatus; still waiting)" if unknown else ""
    return JobState("running", status, f"Export job {job_id} is {status}{note}: {progress}.", unknown)


def _created(job: dict[str, Any]) -> datetime | None:
    """A job's CreationDate (an ISO-8601 string) as an aware datetime; None when unreadable."""
    raw = str(job.get("CreationDate") or "")
    try:
        when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in {"Z", "z"} else raw)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _newest_key(job: dict[str, Any]) -> tuple[datetime, str]:
    """Orders jobs oldest to newest: CreationDate (unreadable ones first), then Id."""
    return _created(job) or datetime.min.replace(tzinfo=timezone.utc), str(job.get("Id", ""))


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
    def conn(self) -> PinpointClient:
        """The boto3 pinpoint client (cached), with ``standard`` retries unless configured otherwise."""
        config = self.config
        if config.retries is None and not os.environ.get("AWS_RETRY_MODE"):
            config = config.merge(Config(retries={"mode": "standard"}))
        if self.max_pool_connections and (config.max_pool_connections or 10) < self.max_pool_connections:
            config = config.merge(Config(max_pool_connections=self.max_pool_connections))
        client: PinpointClient = self.get_client_type(region_name=self.region_name, config=config)
        return client

    @cached_property
    def conn_without_retries(self) -> PinpointClient:
        """The pinpoint client (cached) that never re-sends a request, for non-idempotent CreateExportJob."""
        config = self.config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        client: PinpointClient = self.get_client_type(region_name=self.region_name, config=config)
        return client

    def _call(self, operation: str, subject: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except (ClientError, ConnectionError, HTTPClientError) as error:
            raise pinpoint_error(operation, subject, error) from error

    def _pages(
        self, operation: str, method: Callable[..., Any], key: str, subject: str, params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """Every item of a Pinpoint list operation, one page at a time, passing NextToken back as Token."""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self._call(operation, subject, method, **params).get(key, {})
            yield from page.get("Item") or []
            token = page.get("NextToken")
            if not token:
                return
            if token in seen:
                raise ValueError(
                    f"{operation} for {subject} returned NextToken {token!r} a second time; "
                    "stopping instead of looping"
                )
            seen.add(token)
            params["Token"] = token
        raise ValueError(f"{operation} for {subject} returned more than {MAX_PAGES} pages; stopping")

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
        check_id("application_id", application_id)
        check_id("segment_id", segment_id)
        check_positive_int("page_size", page_size)
        params: dict[str, Any] = {"ApplicationId": application_id, "SegmentId": segment_id}
        if page_size is not None:
            params["PageSize"] = str(page_size)
        subject = f"application {application_id!r}, segment {segment_id!r}"
        method = self.conn.get_segment_export_jobs
        return self._pages("GetSegmentExportJobs", method, "ExportJobsResponse", subject, params)

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
        check_id("application_id", application_id)
        check_id("job_id", job_id)
        return self._get_export_job(application_id, job_id, f"application {application_id!r}, job {job_id!r}")

    def _get_export_job(self, application_id: str, job_id: str, subject: str) -> dict[str, Any]:
        method = self.conn.get_export_job
        answer = self._call("GetExportJob", subject, method, ApplicationId=application_id, JobId=job_id)
        job: dict[str, Any] = answer["ExportJobResponse"]
        return job

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
        check_id("application_id", application_id)
        check_id("segment_id", segment_id)
        check_id("job_id", job_id, optional=True)
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
            if _created(job) is None:
                self.log.warning(
                    "Export job %s has no readable CreationDate %r.", job.get("Id"), job.get("CreationDate")
                )
            if newest is None or _newest_key(job) > _newest_key(newest):
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
        prefix: str | None = (job.get("Definition") or {}).get("S3UrlPrefix")
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
        adopts a running export to the same prefix (see :meth:`start_or_adopt_export_job`).

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
        return self.start_or_adopt_export_job(
            application_id, segment_id, role_arn, s3_url_prefix, segment_version=segment_version
        )[0]

    def start_or_adopt_export_job(
        self,
        application_id: str,
        segment_id: str,
        role_arn: str,
        s3_url_prefix: str,
        *,
        segment_version: int | None = None,
        adopt_since: datetime | None = None,
        fail_on_failing: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """
        Adopt an export of the segment to the same prefix, or start one (CreateExportJob).

        With ``adopt_since`` (a retried task's DAG run start), the segment's jobs are listed first
        (GetSegmentExportJobs, all pages) and the newest one to the same S3UrlPrefix that is still
        running, or that COMPLETED at or after ``adopt_since``, is returned instead of starting a
        second export. Jobs whose Definition does not report the prefix are never adopted. The
        arguments, errors and retries of CreateExportJob are those of
        :meth:`create_segment_export_job`; every argument is checked before any call.

        :param adopt_since: an aware or naive-UTC datetime, or None to always start a new job.
        :param fail_on_failing: count FAILING as failed (never adopted) instead of running.
        :return: ``(ExportJobResponse dict, whether it was adopted)``.
        """
        check_export_request(application_id, segment_id, role_arn, s3_url_prefix, segment_version)
        if adopt_since is not None:
            since = adopt_since if adopt_since.tzinfo else adopt_since.replace(tzinfo=timezone.utc)
            candidates = []
            for job in self.iter_segment_export_jobs(application_id, segment_id):
                if (job.get("Definition") or {}).get("S3UrlPrefix") != s3_url_prefix:
                    continue
                outcome, created = job_state(job, fail_on_failing=fail_on_failing).outcome, _created(job)
                if outcome == "running" or (outcome == "completed" and created and created >= since):
                    candidates.append(job)
            if candidates:
                return max(candidates, key=_newest_key), True
        request: dict[str, Any] = {"RoleArn": role_arn, "S3UrlPrefix": s3_url_prefix, "SegmentId": segment_id}
        if segment_version is not None:
            request["SegmentVersion"] = segment_version
        subject = f"application {application_id!r}, segment {segment_id!r}"
        method = self.conn_without_retries.create_export_job
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                response = self._call(
                    "CreateExportJob", subject, method, ApplicationId=application_id, ExportJobRequest=request
                )
                return response["ExportJobResponse"], False
            except PinpointTransientError as error:
                if error.reason != "throttled":
                    raise PinpointTransientError(
                        f"{error} Pinpoint may have started the export anyway, so the request is not "
                        "sent again: retry the task, and it adopts a running export to the same prefix."
                    ) from error.__cause__
                if attempt == CREATE_ATTEMPTS:
                    raise PinpointTransientError(
                        f"{error} Throttled on all {CREATE_ATTEMPTS} tries; no export job was started."
                    ) from error.__cause__
                self.log.warning("%s Sending it again (try %d of %d).", error, attempt + 1, CREATE_ATTEMPTS)
                time.sleep(CREATE_RETRY_DELAY * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------- reading an export
    @cached_property
    def _s3_hook(self) -> S3Hook:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        settings: dict[str, Any] = {"region_name": self.region_name, "verify": self.verify}
        return S3Hook(aws_conn_id=self.aws_conn_id, config=self._config, **settings)

    def list_export_files(self, s3_url_prefix: str) -> list[str]:
        """
        List the export's files: every ``.gz`` object under the prefix, in sub-folders too.

        Uses S3 ListObjectsV2 through the Amazon provider's S3Hook with this hook's connection.
        Key names under the prefix are undocumented, so the listing is recursive; the prefix is
        taken as a folder (``run-1`` never matches ``run-10``).

        :param s3_url_prefix: the export job's S3UrlPrefix, ``s3://bucket/prefix``.
        :return: sorted ``s3://bucket/key`` URLs; an empty list (with a warning) when there are none.
        :raises ValueError: for a malformed prefix, before any call.
        """
        bucket, prefix = check_s3_url(s3_url_prefix)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        keys = self._s3_hook.list_keys(bucket_name=bucket, prefix=prefix) or []
        files = sorted(f"s3://{bucket}/{key}" for key in keys if key.lower().endswith(".gz"))
        if not files:  # an empty segment, or a prefix that is not where the export wrote
            self.log.warning("No export file (.gz) under %s.", s3_url_prefix)
        return files

    def iter_exported_endpoints(self, s3_url_prefix: str) -> Iterator[dict[str, Any]]:
        """
        Yield the endpoint definitions of an export, streamed one file at a time.

        Each file is gzip-compressed newline-delimited JSON; it is decompressed while it is read
        (S3 GetObject), so at most one file's stream is open and no file is held whole in memory.
        Record contents are never logged: they hold customers' addresses.

        :param s3_url_prefix: the export job's S3UrlPrefix, ``s3://bucket/prefix``.
        :return: an iterator of endpoint dicts (Id, ChannelType, Address, ...).
        :raises ValueError: for a malformed prefix, at once; while iterating, as
            :meth:`iter_export_file` raises it for any of the files: none is skipped.
        """
        files = self.list_export_files(s3_url_prefix)
        return (record for url in files for record in self.iter_export_file(url))

    def iter_export_file(self, s3_url: str) -> Iterator[dict[str, Any]]:
        """
        Yield the endpoint definitions of one export file (S3 GetObject), decompressed while read.

        The unit of work for spreading a large export over workers: list the files with
        :meth:`list_export_files`, then read each in a task of its own (dynamic task mapping).

        :param s3_url: one file's ``s3://bucket/key``, as :meth:`list_export_files` lists it.
        :return: an iterator of endpoint dicts (Id, ChannelType, Address, ...).
        :raises ValueError: for a malformed URL, at once; while iterating, for a file that is empty
            (0 bytes) or not gzip, is cut short, or has a line that is not a JSON object (the
            message names the file and line number, never the content).
        """
        bucket, key = check_s3_url(s3_url, "s3_url")
        return self._records(s3_url, bucket, key)

    def _records(self, url: str, bucket: str, key: str) -> Iterator[dict[str, Any]]:
        answer = self._s3_hook.get_conn().get_object(Bucket=bucket, Key=key)
        body, number = answer["Body"], 0
        if not answer.get("ContentLength"):
            body.close()
            raise ValueError(f"{url} is empty (0 bytes): not a gzip export file")
        try:
            with gzip.GzipFile(fileobj=body, mode="rb") as stream:
                for number, line in enumerate(stream, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
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
