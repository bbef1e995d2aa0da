"""
Read back every export that ``example_pinpoint_segment_export`` reports on its asset alias.

That DAG's operator declares the asset alias ``pinpoint-segment-export`` in its outlets and, when
its export completes, adds an asset event whose URI is the export's S3UrlPrefix, with the
job_id, segment_id and application_id in the event's extra. The scheduler starts this DAG from
that event (data-aware scheduling): no schedule, no sensor.
"""

from __future__ import annotations

from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, AssetAlias, task
except ImportError:  # Airflow 2.10: assets were datasets
    from airflow import DAG
    from airflow.datasets import DatasetAlias as AssetAlias
    from airflow.decorators import task

from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

with DAG(
    dag_id="example_pinpoint_export_consumer",
    description="Count the endpoints of each Pinpoint export reported on an asset alias.",
    start_date=datetime(2026, 1, 1),
    schedule=[AssetAlias("pinpoint-segment-export")],
    catchup=False,
    tags=["example", "pinpoint"],
):

    @task
    def count_exported_endpoints(**context) -> dict:
        """For each export that triggered this run: its job and how many endpoints it holds."""
        events = context.get("triggering_asset_events") or context.get("triggering_dataset_events") or {}
        # Airflow 3 lists an alias's event under the alias and under the asset: one entry per export.
        # extra["s3_url_prefix"] is the prefix exactly as Pinpoint reported it (the URI may be encoded).
        exports = {e.extra["s3_url_prefix"]: e.extra for es in events.values() for e in es if e.extra}
        hook = PinpointHook(aws_conn_id="aws_default")
        counts = {
            prefix: {
                "job_id": extra["job_id"],
                "endpoints": sum(1 for _ in hook.iter_exported_endpoints(prefix)),
            }
            for prefix, extra in exports.items()
        }
        print(f"Exports read back: {counts}")
        return counts

    count_exported_endpoints()
