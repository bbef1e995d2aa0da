"""SegmentExportJobSensor: wait until a Pinpoint segment export job has finished."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_provider_pinpoint._compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    conf,
)
from airflow_provider_pinpoint._task import ExportJobTask
from airflow_provider_pinpoint._validation import check_id
from airflow_provider_pinpoint._waiting import ExportJobWait
from airflow_provider_pinpoint.exceptions import PinpointUnreachableError
from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

if TYPE_CHECKING:
    from airflow.sdk import Context


class SegmentExportJobSensor(ExportJobTask, AwsBaseSensor[PinpointHook]):
    """
    Wait until a Pinpoint segment export job's JobStatus is terminal.

    COMPLETED succeeds; FAILED raises ``AirflowFailException`` with the job's failure details (so
    the task is not retried, and ``soft_fail=True`` skips it instead). FAILING keeps waiting unless
    ``fail_on_failing``. Throttling and 5xx answers count as "not done yet", never as an outcome.

    Pushes to XCom: ``return_value`` = the job's S3UrlPrefix (str, or None with a warning when
    Pinpoint reports none), ``job_id`` = the job's Id and ``pinpoint_export_s3`` = the console
    link's data.

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
    :param asset_alias: the name of an asset alias (not templated). The task declares it in its
        outlets and, when the job has COMPLETED, adds an asset event for the S3UrlPrefix with
        ``extra`` = job_id, segment_id and application_id. None adds nothing.
    :param poke_interval: seconds between checks (also the trigger's waiter_delay).
    :param timeout: seconds before the sensor times out (``AirflowSensorTimeout``).
    :param aws_conn_id: the Airflow AWS connection (default ``aws_default``); None uses boto3's
        default credential chain.
    :param region_name: AWS Region; None uses the connection's.
    :param verify: whether or not to verify SSL certificates, or a CA bundle path.
    :param botocore_config: botocore client configuration as a dict.
    """

    template_fields: Sequence[str] = aws_template_fields("application_id", "segment_id", "job_id")
    timeout_error = AirflowSensorTimeout

    def __init__(
        self,
        *,
        application_id: str,
        segment_id: str,
        job_id: str | None = None,
        fail_on_failing: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        asset_alias: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._outlets(asset_alias, kwargs))
        self.application_id = application_id
        self.segment_id = segment_id
        self.job_id = job_id
        self.fail_on_failing = fail_on_failing
        self.deferrable = deferrable
        self.asset_alias = asset_alias
        self._current: ExportJobWait | None = None

    def _validate(self) -> None:
        check_id("application_id", self.application_id)
        check_id("segment_id", self.segment_id)
        check_id("job_id", self.job_id, optional=True)

    def _wait_for(self) -> ExportJobWait:
        """The wait this sensor polls: one per execute in poke mode, one per poke in reschedule mode.

        Nothing survives between pokes in reschedule mode, so there an unreachable endpoint ends
        the wait at the sensor's ``timeout``, not by the ``UNREACHABLE_AFTER`` window.
        """
        if self._current is None or self.reschedule:
            self._current = self._wait(
                job_id=self.job_id,
                segment_id=self.segment_id,
                waiter_delay=self.poke_interval,
                follow_newest=True,
            )
        return self._current

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """
        Check the job once (GetExportJob; GetSegmentExportJobs without a job_id).

        In deferrable mode a job that is not done yet defers to SegmentExportJobTrigger here.

        :return: False while it runs; ``PokeReturnValue(is_done=True, xcom_value=S3UrlPrefix)``
            once COMPLETED.
        :raises AirflowFailException: the job FAILED (or is FAILING with fail_on_failing).
        :raises PinpointApiError: a permanent API error (NotFound, Forbidden, a certificate that
            fails verification, ...).
        :raises PinpointUnreachableError: every poke for ``UNREACHABLE_AFTER`` seconds found the
            endpoint unreachable.
        :raises ValueError: a blank id after rendering, before any call.
        """
        self._validate()
        wait = self._wait_for()
        outcome = wait.poll(self.hook)
        if outcome is not None:
            return PokeReturnValue(is_done=True, xcom_value=self._finish(context, outcome))
        if self.deferrable:
            interval = max(float(self.poke_interval), 0.0)
            self._defer(
                self.timeout,
                job_id=wait.current_job_id,
                segment_id=self.segment_id,
                waiter_delay=interval,
                waiter_max_attempts=max(1, math.ceil(self.timeout / max(interval, 0.001))),
            )
        if not self.reschedule:  # a throttled poke waits at least THROTTLED_MIN_DELAY seconds
            time.sleep(max(0.0, wait.next_delay - float(self.poke_interval)))
        return False

    def execute(self, context: Context) -> Any:
        """
        Wait in poke or reschedule mode; deferrable: check once with ``poke``, then defer.

        soft_fail, never_fail and silent_fail apply to every check as Airflow applies them; a
        skip names the failure it hides.
        In poke mode, when the sensor times out while every poke found the endpoint unreachable,
        it raises :class:`PinpointUnreachableError` instead (never a skip).
        """
        self._current = None
        try:
            return super().execute(context)
        except (AirflowSensorTimeout, AirflowSkipException) as error:
            wait = self._current
            if not self.reschedule and wait is not None and wait.all_unreachable and wait.last_error:
                raise PinpointUnreachableError(wait.unreachable().message) from error
            if isinstance(error, AirflowSkipException) and error.__cause__ is not None:
                raise AirflowSkipException(f"{error} {error.__cause__}") from error.__cause__
            raise
