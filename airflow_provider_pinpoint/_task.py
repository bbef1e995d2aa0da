"""What SegmentExportJobOperator and SegmentExportJobSensor share.

The hook, the console link, deferring to and resuming from SegmentExportJobTrigger, and what a
finished export leaves behind: ``job_id`` and the S3UrlPrefix in XCom, the link, an asset event
on ``asset_alias``, and the OpenLineage output dataset.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_pinpoint._compat import Asset, AssetAlias
from airflow_provider_pinpoint._validation import check_id
from airflow_provider_pinpoint._waiting import ExportJobWait, Outcome
from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook
from airflow_provider_pinpoint.links.pinpoint import SegmentExportS3Link
from airflow_provider_pinpoint.triggers.pinpoint import SegmentExportJobTrigger

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
    from airflow.sdk import Context

    _Task = AwsBaseOperator[PinpointHook]  # for the type checker: what the mixin is mixed into
else:
    _Task = object


class ExportJobTask(_Task):
    """The part of the operator and the sensor that waits for an export job and reports it."""

    aws_hook_class = PinpointHook
    operator_extra_links = (SegmentExportS3Link(),)
    ui_color = "#f7c4d9"
    timeout_error: type[Exception] = TimeoutError
    application_id: str
    segment_id: str
    fail_on_failing: bool
    asset_alias: str | None
    job_id: str | None = None
    written: str | None = None  # the S3UrlPrefix of the export this task saw complete

    @staticmethod
    def _outlets(asset_alias: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The task's keyword arguments, with ``AssetAlias(asset_alias)`` added to its outlets."""
        if asset_alias is not None:
            check_id("asset_alias", asset_alias)
            outlets, alias = kwargs.get("outlets") or [], AssetAlias(asset_alias)
            outlets = list(outlets) if isinstance(outlets, (list, tuple)) else [outlets]
            kwargs["outlets"] = outlets if alias in outlets else [*outlets, alias]  # partial() added it
        return kwargs

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Airflow's ``partial``, with ``asset_alias`` declared in the outlets when the DAG is parsed."""
        return super().partial(**cls._outlets(kwargs.get("asset_alias"), kwargs))

    def _wait(self, **kwargs: Any) -> ExportJobWait:
        return ExportJobWait(
            application_id=self.application_id, fail_on_failing=self.fail_on_failing, log=self.log, **kwargs
        )

    def _defer(self, timeout: float, **kwargs: Any) -> None:
        trigger = SegmentExportJobTrigger.for_task(self, **kwargs)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=timeout))

    def _persist_link(self, context: Context, prefix: str) -> None:
        """Store the console link for this try and map index (``context["ti"]``, as Airflow 3 needs)."""
        bucket, _, key = prefix.removeprefix("s3://").partition("/")  # as Pinpoint reported it
        folder = quote(key.rstrip("/") + "/") if key else ""  # the console shows the folder's files
        try:
            domain = SegmentExportS3Link.get_aws_domain(self.hook.conn_partition)
            value = {"region_name": self.hook.conn_region_name, "aws_domain": domain, "bucket": bucket}
            context["ti"].xcom_push(key=SegmentExportS3Link.key, value={**value, "prefix": folder})
        except Exception:  # as for the Amazon provider's links: a link never fails a finished export
            self.log.warning("Could not store the console link to %s.", prefix, exc_info=True)

    def _finish(self, context: Context, outcome: Outcome) -> str | None:
        """The S3UrlPrefix of a completed export, with job_id, link and asset event; else raises."""
        asked = getattr(self, "s3_url_prefix", None)  # the operator's, when Pinpoint reports none
        prefix = outcome.result(self.log, timeout_error=self.timeout_error) or asked
        job_id = outcome.job_id or self.job_id
        context["ti"].xcom_push(key="job_id", value=job_id)
        if not prefix:
            self.log.warning("Export job %s reports no S3UrlPrefix; pushing None to XCom.", job_id)
            return None
        self._persist_link(context, prefix)
        self.written = prefix
        if self.asset_alias:  # the URI percent-encodes what Airflow would refuse or cut (non-ASCII, # ? %)
            extra: dict[str, Any] = {"job_id": job_id, "segment_id": self.segment_id, "s3_url_prefix": prefix}
            extra["application_id"] = self.application_id
            uri = quote(prefix, safe=":/=+@,;!$&'()*[]~")
            context["outlet_events"][AssetAlias(self.asset_alias)].add(Asset(uri=uri), extra=extra)
        return prefix

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str | None:
        """
        Resume after the trigger fired.

        :return: the S3UrlPrefix (XCom ``return_value``); ``job_id`` is pushed too.
        :raises AirflowFailException: the job failed (a sensor's soft_fail skips).
        :raises ExportJobTimeoutError: (operator) not finished after waiter_max_attempts polls.
        :raises AirflowSensorTimeout: (sensor) not finished within the timeout (soft_fail skips).
        :raises PinpointApiError: a permanent API error or a missing event (never skipped).
        :raises PinpointUnreachableError: the endpoint could not be reached (never skipped).
        """
        return self._finish(context, Outcome.from_event(event))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """
        The OpenLineage output: the export's S3UrlPrefix as one dataset.

        Its namespace is ``s3://<bucket>``, its name the key prefix without a trailing slash (``/``
        for a whole bucket). OpenLineage's modules are imported only here, when it extracts.

        :param task_instance: the finished task instance (unused: the task remembers the prefix).
        :return: an ``OperatorLineage`` with one output, or none when no export completed.
        """
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        if not self.written:
            return OperatorLineage()
        bucket, _, key = self.written.removeprefix("s3://").partition("/")
        return OperatorLineage(outputs=[Dataset(namespace=f"s3://{bucket}", name=key.rstrip("/") or "/")])
