"""SegmentExportJobSensor: wait until a Pinpoint segment export job has finished."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_pinpoint._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    conf,
)
from airflow_provider_pinpoint.hooks.pinpoint import (
    ExportJobNotFoundError,
    PinpointHook,
    PinpointTransientError,
    job_state,
    validate_id,
)
from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger, check_event

if TYPE_CHECKING:
    from airflow.sdk import Context


class SegmentExportJobSensor(AwsBaseSensor[PinpointHook]):
    """
    Wait until a Pinpoint segment export job's JobStatus is terminal.

    COMPLETED succeeds; FAILED raises ``AirflowFailException`` with the job's failure details (so
    the task is not retried, and ``soft_fail=True`` skips it instead). FAILING keeps waiting unless
    ``fail_on_failing``. Throttling and 5xx answers count as "not done yet", never as an outcome.

    Pushes to XCom: ``return_value`` = the job's S3UrlPrefix (str, or None with a warning when
    Pinpoint reports none) and ``job_id`` = the job's Id.

    :param application_id: the Pinpoint ApplicationId (templated).
    :param segment_id: the SegmentId (templated).
    :param job_id: the export job's Id (templated). None waits on the segment's newest export
        job, re-resolved at every poke (GetSegmentExportJobs); a segment with no export job yet
        is not done. With a job_id each poke is one GetExportJob call.
    :param fail_on_failing: fail as soon as the job is FAILING.
    :param deferrable: wait in the triggerer instead of a worker slot (needs a running
        triggerer). Defaults to ``[operators] default_deferrable``. The first check runs on the
        worker, so a finished job never defers; with no export job yet (and no ``job_id``) the
        trigger waits for one to appear and then for it to finish.
    :param poke_interval: seconds between checks (also the trigger's waiter_delay).
    :param timeout: seconds before the sensor times out (``AirflowSensorTimeout``).
    :param aws_conn_id: the Airflow AWS connection (default ``aws_default``); None uses boto3's
        default credential chain.
    :param region_name: AWS Region; None uses the connection's.
    :param verify: whether or not to verify SSL certificates, or a CA bundle path.
    :param botocore_config: botocore client configuration as a dict.
    """

    aws_hook_class = PinpointHook
    template_fields: Sequence[str] = aws_template_fields("application_id", "segment_id", "job_id")
    ui_color = "#f7c4d9"

    def __init__(
        self,
        *,
        application_id: str,
        segment_id: str,
        job_id: str | None = None,
        fail_on_failing: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.application_id = application_id
        self.segment_id = segment_id
        self.job_id = job_id
        self.fail_on_failing = fail_on_failing
        self.deferrable = deferrable

    def _validate(self) -> None:
        validate_id("application_id", self.application_id)
        validate_id("segment_id", self.segment_id)
        validate_id("job_id", self.job_id, optional=True)

    def _current_job(self) -> dict[str, Any] | None:
        """The job to judge now, or None when its state cannot be known yet."""
        try:
            return self.hook.get_segment_export_job(self.application_id, self.segment_id, self.job_id)
        except PinpointTransientError as error:
            self.log.warning("%s The job's state is unknown; asking again at the next check.", error)
        except ExportJobNotFoundError as error:
            if self.job_id is not None:
                raise
            self.log.info("%s; waiting for one.", error)
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """
        Check the job once.

        :return: False while it runs; ``PokeReturnValue(is_done=True, xcom_value=S3UrlPrefix)``
            once COMPLETED.
        :raises AirflowFailException: the job FAILED (or is FAILING with fail_on_failing).
        :raises PinpointApiError: a permanent API error (NotFound, Forbidden, ...).
        :raises ValueError: a blank id after rendering, before any call.
        """
        self._validate()
        job = self._current_job()
        return False if job is None else self._judge(context, job)

    def _judge(self, context: Context, job: dict[str, Any]) -> bool | PokeReturnValue:
        state = job_state(job, fail_on_failing=self.fail_on_failing)
        if state.outcome == "failed":
            self.log.error("%s", state.message)  # shown even when soft_fail turns the failure into a skip
            raise AirflowFailException(state.message)
        if state.outcome == "running":
            (self.log.warning if state.unknown_status else self.log.info)("%s", state.message)
            return False
        self.log.info("%s", state.message)
        try:
            prefix = self.hook.export_s3_url_prefix(self.application_id, self.segment_id, job)
        except PinpointTransientError as error:
            self.log.warning("%s The job's state is unknown; asking again at the next check.", error)
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=self._finish(context, job.get("Id") or self.job_id, prefix)
        )

    def _finish(self, context: Context, job_id: str | None, prefix: str | None) -> str | None:
        """Push ``job_id`` and return the S3UrlPrefix for ``return_value``."""
        context["ti"].xcom_push(key="job_id", value=job_id)
        if not prefix:
            self.log.warning("Export job %s reports no S3UrlPrefix; pushing None to XCom.", job_id)
        return prefix

    def execute(self, context: Context) -> Any:
        """Wait in poke/reschedule mode, or check once and defer to SegmentExportJobTrigger."""
        if not self.deferrable:
            return super().execute(context)
        job = None
        try:  # the first check, with the same soft_fail / never_fail / silent_fail rules as a poke
            self._validate()
            job = self._current_job()
            done = False if job is None else self._judge(context, job)
            if isinstance(done, PokeReturnValue):
                return done.xcom_value
        except AirflowSkipException:
            raise
        except AirflowFailException as error:
            if self.soft_fail or getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping due to soft_fail or never_fail: {error}") from error
            raise
        except Exception as error:
            if getattr(self, "never_fail", False):
                raise AirflowSkipException(f"Skipping due to never_fail: {error}") from error
            if not getattr(self, "silent_fail", False):
                raise
            self.log.error("First check failed; deferring anyway (silent_fail): %s", error)
        interval = max(float(self.poke_interval), 0.0)
        self.defer(
            trigger=SegmentExportJobTrigger(
                application_id=self.application_id,
                job_id=(job or {}).get("Id") or self.job_id,
                segment_id=self.segment_id,
                waiter_delay=interval,
                waiter_max_attempts=max(1, math.ceil(self.timeout / max(interval, 0.001))),
                fail_on_failing=self.fail_on_failing,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str | None:
        """
        Resume after the trigger fired.

        :return: the S3UrlPrefix (XCom ``return_value``); ``job_id`` is pushed too.
        :raises AirflowFailException: the job failed (soft_fail skips).
        :raises AirflowSensorTimeout: the job was not finished within the timeout (soft_fail skips).
        :raises PinpointApiError: a permanent API error or a missing event (soft_fail does not skip).
        """
        try:
            success = check_event(event, timeout_error=AirflowSensorTimeout)
        except (AirflowFailException, AirflowSensorTimeout) as error:
            self.log.error("%s", error)  # shown even when soft_fail turns the failure into a skip
            raise
        return self._finish(context, success.get("job_id") or self.job_id, success.get("s3_url_prefix"))
