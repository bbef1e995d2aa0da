"""The ``apache_airflow_provider`` entry point: a dict, importing nothing but the package version."""

from typing import Any

from airflow_provider_pinpoint import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe this provider to Airflow's ProvidersManager."""
    name = "Amazon Pinpoint"
    modules = {
        kind: [{"integration-name": name, "python-modules": [f"airflow_provider_pinpoint.{kind}.pinpoint"]}]
        for kind in ("hooks", "sensors", "operators", "triggers")
    }
    return {
        "package-name": "airflow-provider-pinpoint",
        "name": name,
        "description": "Amazon Pinpoint segment export jobs: hook, sensor, operator and deferrable trigger.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": name,
                "external-doc-url": "https://docs.aws.amazon.com/pinpoint/latest/apireference/",
                "tags": ["aws"],
            }
        ],
        "extra-links": ["airflow_provider_pinpoint.links.pinpoint.SegmentExportS3Link"],
        **modules,
    }
