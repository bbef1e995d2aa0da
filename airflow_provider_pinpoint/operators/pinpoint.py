"""SegmentExportJobOperator: export a Pinpoint segment's endpoints to Amazon S3."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_pinpoint._compat import conf
from airflow_provider_pinpoint._waiting import THROTTLED_MIN_DELAY, ExportJobWait, Outcome
from airflow_provider_pinpoint.hooks.pinpoint import (
    ExportJobTimeoutError,
    PinpointHook,
    aware,
    creation_time,
    job_state,
    newest_key,
    validate_id,
    validate_role_arn,
    validate_s3_url_prefix,
    validate_segment_version,
)
from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


#: The longest wait, in seconds, that waiter_delay * waiter_max_attempts may ask for: a year.
MAX_WAIT_SECONDS = 366 * 24 * 60 * 60
#: The most checks waiter_max_attempts may ask for.
MAX_ATTEMPTS = 1_000_000

__all__ = ["ExportJobTimeoutError", "SegmentExportJobOperator"]


class SegmentExportJobOperator(AwsBaseOperator[PinpointHook]):
    """
    Start a Pinpoint segment export job (CreateExportJob) and, by default, wait until it finishes.

    Pushes to XCom: ``job_id`` = the export job's Id, as soon as the job exists; ``return_value``
    = the job's S3UrlPrefix (from the job's Definition, or the prefix asked for when Pinpoint
    returns an empty Definition). Use a unique prefix per run, e.g. with ``{{ run_id }}``.

    A FAILED job raises ``AirflowFailException`` with the failure details (no useless retries);
    FAILING keeps waiting unless ``fail_on_failing``. Throttling and 5xx answers while waiting
    are "ask again", never an outcome. Pinpoint has no API to cancel an export: killing the task
    leaves the job running.

    On a retry (``try_number`` > 1) the operator first looks for an export of the same segment to
    the same S3UrlPrefix that is still running, or that COMPLETED and was created after the DAG run
    started, and adopts it instead of starting a second export (``reuse_existing_job=False``
    turns this off). CreateExportJob itself is never re-sent after an answer that leaves it
    unknown whether the job started (5xx, timeout): the try fails and the retry adopts.

    :param application_id: the Pinpoint ApplicationId (templated).
    :param segment_id: the SegmentId to export (templated).
    :param role_arn: the IAM role Pinpoint assumes to write to S3 (templated).
    :param s3_url_prefix: where the files go, ``s3://bucket/prefix`` (templated).
    :param segment_version: the segment version to export (int >= 1); None for the latest.
    :param wait_for_completion: wait until the job's JobStatus is terminal.
    :param waiter_delay: seconds between two checks while waiting (0 is allowed).
    :param waiter_max_attempts: checks before the task fails with ExportJobTimeoutError.
    :param fail_on_failing: fail as soon as the job is FAILING.
    :param deferrable: wait in the triggerer instead of a worker slot (needs a running
        triggerer). Defaults to ``[operators] default_deferrable``.
    :param reuse_existing_job: on a retry, adopt this run's export instead of starting another.
    :param aws_conn_id: the Airflow AWS connection (default ``aws_default``); None uses boto3's
        default credential chain.
    :param region_name: AWS Region; None uses the connection's.
    :param verify: whether or not to verify SSL certificates, or a CA bundle path.
    :param botocore_config: botocore client configuration as a dict.
    """

    aws_hook_class = PinpointHook
    template_fields: Sequence[str] = aws_template_fields(
        "application_id", "segment_id", "role_arn", "s3_url_prefix"
    )
    ui_color = "#f7c4d9"

    def __init__(
        self,
        *,
        application_id: str,
        segment_id: str,
        role_arn: str,
        s3_url_prefix: str,
        segment_version: int | None = None,
        wait_for_completion: bool = True,
        waiter_delay: float = 30,
        waiter_max_attempts: int = 480,
        fail_on_failing: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        reuse_existing_job: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.application_id = application_id
        self.segment_id = segment_id
        self.role_arn = role_arn
        self.s3_url_prefix = s3_url_prefix
        self.segment_version = segment_version
        self.wait_for_completion = wait_for_completion
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.fail_on_failing = fail_on_failing
        self.deferrable = deferrable
        self.reuse_existing_job = reuse_existing_job

    def _validate(self) -> None:
        validate_id("application_id", self.application_id)
        validate_id("segment_id", self.segment_id)
        validate_role_arn(self.role_arn)
        validate_s3_url_prefix(self.s3_url_prefix)
        validate_segment_version(self.segment_version)
        delay, attempts = self.waiter_delay, self.waiter_max_attempts
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay < math.inf:
            raise ValueError(f"waiter_delay must be a finite number of seconds >= 0, got {delay!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
            raise ValueError(f"waiter_max_attempts must be an int from 1 to {MAX_ATTEMPTS}, got {attempts!r}")
        if delay * attempts > MAX_WAIT_SECONDS:
            raise ValueError(
                f"waiter_delay * waiter_max_attempts must be at most {MAX_WAIT_SECONDS} s (a year), "
                f"got waiter_delay={delay!r}, waiter_max_attempts={attempts!r}"
            )

    def execute(self, context: Context) -> str:
        """
        Start (or, on a retry, adopt) the export job, push ``job_id``, and wait or defer.

        :return: the S3UrlPrefix (XCom ``return_value``).
        :raises ValueError: bad arguments after rendering, before any API call.
        :raises AirflowFailException: the job FAILED.
        :raises ExportJobTimeoutError: still running after waiter_max_attempts checks.
        :raises PinpointApiError: a permanent API error.
        """
        self._validate()
        job = self._adoptable_job(context)
        if job is None:
            job = self.hook.create_segment_export_job(
                self.application_id,
                self.segment_id,
                self.role_arn,
                self.s3_url_prefix,
                segment_version=self.segment_version,
            )
            self.log.info("Started Pinpoint export job %s to %s.", job["Id"], self.s3_url_prefix)
        job_id = job["Id"]
        context["ti"].xcom_push(key="job_id", value=job_id)
        if not self.wait_for_completion or job_state(job).outcome == "completed":  # e.g. an adopted job
            return self._prefix(job)
        wait = ExportJobWait(
            application_id=self.application_id,
            job_id=job_id,
            s3_url_prefix=self.s3_url_prefix,
            waiter_delay=self.waiter_delay,
            max_attempts=self.waiter_max_attempts,
            fail_on_failing=self.fail_on_failing,
            log=self.log,
        )
        if self.deferrable:
            budget = self.waiter_max_attempts * max(float(self.waiter_delay), THROTTLED_MIN_DELAY)
            self.defer(
                trigger=SegmentExportJobTrigger(
                    application_id=self.application_id,
                    job_id=job_id,
                    s3_url_prefix=self.s3_url_prefix,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    fail_on_failing=self.fail_on_failing,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
                # the trigger's own timeout event comes first; this covers the polls' own time
                timeout=timedelta(seconds=budget + max(60.0, 0.1 * budget)),
            )
        while (outcome := wait.poll(self.hook)) is None:
            time.sleep(wait.next_delay)
        return outcome.result(self.log, timeout_error=ExportJobTimeoutError) or self.s3_url_prefix

    def _prefix(self, job: dict[str, Any]) -> str:
        return (job.get("Definition") or {}).get("S3UrlPrefix") or self.s3_url_prefix

    def _adoptable_job(self, context: Context) -> dict[str, Any] | None:
        """
        On a retry: an export of this segment to the same prefix to adopt instead of starting one.

        A job that is still running qualifies, and so does one that COMPLETED and was created
        after the DAG run started. Jobs whose Definition does not report the prefix cannot be
        matched and are never adopted.
        """
        ti = context.get("ti")
        dag_run = context.get("dag_run")
        try_number = getattr(ti, "try_number", None)
        if (
            not self.reuse_existing_job
            or dag_run is None
            or not isinstance(try_number, int)
            or try_number <= 1
        ):
            return None
        run_start = getattr(dag_run, "start_date", None)
        candidates = []
        for job in self.hook.iter_segment_export_jobs(self.application_id, self.segment_id):
            if (job.get("Definition") or {}).get("S3UrlPrefix") != self.s3_url_prefix:
                continue
            outcome = job_state(job, fail_on_failing=self.fail_on_failing).outcome
            created = creation_time(job)
            in_this_run = created is not None and run_start is not None and created >= aware(run_start)
            if outcome == "running" or (outcome == "completed" and in_this_run):
                candidates.append(job)
        if not candidates:
            return None
        job = max(candidates, key=newest_key)
        self.log.info(
            "Try %d: adopting export job %s (%s) to %s instead of starting another.",
            try_number,
            job["Id"],
            job.get("JobStatus"),
            self.s3_url_prefix,
        )
        return job

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """
        Resume after the trigger fired.

        :return: the S3UrlPrefix (XCom ``return_value``).
        :raises AirflowFailException: the job failed.
        :raises ExportJobTimeoutError: the job was not finished after waiter_max_attempts polls.
        :raises PinpointApiError: a permanent API error or a missing event.
        """
        outcome = Outcome.from_event(event)
        return outcome.result(self.log, timeout_error=ExportJobTimeoutError) or self.s3_url_prefix
