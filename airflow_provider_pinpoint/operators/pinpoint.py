"""SegmentExportJobOperator: export a Pinpoint segment's endpoints to Amazon S3."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_pinpoint._compat import conf
from airflow_provider_pinpoint._task import ExportJobTask
from airflow_provider_pinpoint._validation import check_wait
from airflow_provider_pinpoint._waiting import THROTTLED_MIN_DELAY, Outcome
from airflow_provider_pinpoint.exceptions import ExportJobTimeoutError
from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook, job_state

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["ExportJobTimeoutError", "SegmentExportJobOperator"]


class SegmentExportJobOperator(ExportJobTask, AwsBaseOperator[PinpointHook]):
    """
    Start a Pinpoint segment export job (CreateExportJob) and, by default, wait until it finishes.

    Pushes to XCom: ``job_id`` = the export job's Id, as soon as the job exists; ``return_value``
    = the job's S3UrlPrefix (from the job's Definition, or the prefix asked for when Pinpoint
    returns an empty Definition); ``pinpoint_export_s3`` = the console link's data. Use a unique
    prefix per run, e.g. with ``{{ run_id }}``.

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
    :param waiter_delay: seconds between two polls while waiting (0 is allowed; after a throttled
        poll the next comes after at least 1 second).
    :param waiter_max_attempts: polls before the task fails with ExportJobTimeoutError; every poll
        counts, whatever it met. When every poll found the endpoint unreachable, the task fails
        with PinpointUnreachableError instead.
    :param fail_on_failing: fail as soon as the job is FAILING.
    :param deferrable: wait in the triggerer instead of a worker slot (needs a running
        triggerer). Defaults to ``[operators] default_deferrable``.
    :param reuse_existing_job: on a retry, adopt this run's export instead of starting another.
    :param asset_alias: the name of an asset alias (not templated). The task declares it in its
        outlets and, when the export completes, adds an asset event for the S3UrlPrefix with
        ``extra`` = job_id, segment_id and application_id. None adds nothing.
    :param aws_conn_id: the Airflow AWS connection (default ``aws_default``); None uses boto3's
        default credential chain.
    :param region_name: AWS Region; None uses the connection's.
    :param verify: whether or not to verify SSL certificates, or a CA bundle path.
    :param botocore_config: botocore client configuration as a dict.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "application_id", "segment_id", "role_arn", "s3_url_prefix"
    )
    timeout_error = ExportJobTimeoutError

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
        asset_alias: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._outlets(asset_alias, kwargs))
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
        self.asset_alias = asset_alias

    def execute(self, context: Context) -> str | None:
        """
        Start (or, on a retry, adopt) the export job, push ``job_id``, and wait or defer.

        :return: the S3UrlPrefix (XCom ``return_value``).
        :raises ValueError: bad arguments after rendering, before any API call.
        :raises AirflowFailException: the job FAILED.
        :raises ExportJobTimeoutError: still running after waiter_max_attempts polls.
        :raises PinpointApiError: a permanent API error.
        :raises PinpointUnreachableError: every poll found the endpoint unreachable.
        """
        check_wait(self.waiter_delay, self.waiter_max_attempts)
        try_number, dag_run = getattr(context.get("ti"), "try_number", None), context.get("dag_run")
        adopt_since = None  # on a retry: this run's export, running or COMPLETED since the run started
        if self.reuse_existing_job and dag_run is not None and isinstance(try_number, int) and try_number > 1:
            adopt_since = getattr(dag_run, "start_date", None) or datetime.max.replace(tzinfo=timezone.utc)
        job, adopted = self.hook.start_or_adopt_export_job(
            self.application_id,
            self.segment_id,
            self.role_arn,
            self.s3_url_prefix,
            segment_version=self.segment_version,
            adopt_since=adopt_since,
            fail_on_failing=self.fail_on_failing,
        )
        what = f"Try {try_number}: adopting" if adopted else "Started Pinpoint"
        self.log.info(
            "%s export job %s (%s) to %s.", what, job["Id"], job.get("JobStatus"), self.s3_url_prefix
        )
        context["ti"].xcom_push(key="job_id", value=job["Id"])
        state = job_state(job)
        if state.outcome == "completed":  # an adopted job
            prefix = (job.get("Definition") or {}).get("S3UrlPrefix")
            return self._finish(context, Outcome("completed", job["Id"], state.message, prefix))
        if not self.wait_for_completion:
            self._persist_link(context, self.s3_url_prefix)
            return self.s3_url_prefix
        if self.deferrable:
            budget = self.waiter_max_attempts * max(float(self.waiter_delay), THROTTLED_MIN_DELAY)
            self._defer(  # the trigger's own timeout event comes first; this covers the polls' own time
                budget + max(60.0, 0.1 * budget),
                job_id=job["Id"],
                s3_url_prefix=self.s3_url_prefix,
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
            )
        wait = self._wait(
            job_id=job["Id"],
            s3_url_prefix=self.s3_url_prefix,
            waiter_delay=self.waiter_delay,
            max_attempts=self.waiter_max_attempts,
        )
        while (outcome := wait.poll(self.hook)) is None:
            time.sleep(wait.next_delay)
        return self._finish(context, outcome)
