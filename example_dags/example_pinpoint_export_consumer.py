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
        hook = PinpointHook(aws_conn_id="aws_default")
        counts = {}
        for event in (event for events_of_one in events.values() for event in events_of_one):
            uri = getattr(event, "asset", None) or event.dataset  # Airflow 3 / Airflow 2.10
            counts[uri.uri] = {
                "job_id": (event.extra or {}).get("job_id"),
                "endpoints": sum(1 for _ in hook.iter_exported_endpoints(uri.uri)),
            }
        print(f"Exports read back: {counts}")
        return counts

    count_exported_endpoints()
