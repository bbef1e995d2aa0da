"""The ``apache_airflow_provider`` entry point: a literal dict, importing nothing."""


def get_provider_info() -> dict:
    """Describe this provider to Airflow's ProvidersManager."""
    return {
        "package-name": "airflow-provider-pinpoint",
        "name": "Amazon Pinpoint",
        "description": "Amazon Pinpoint segment export jobs: hook, sensor, operator and deferrable trigger.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Amazon Pinpoint",
                "external-doc-url": "https://docs.aws.amazon.com/pinpoint/latest/apireference/",
                "tags": ["aws"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Amazon Pinpoint",
                "python-modules": ["airflow_provider_pinpoint.hooks.pinpoint"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Amazon Pinpoint",
                "python-modules": ["airflow_provider_pinpoint.sensors.pinpoint"],
            }
        ],
        "operators": [
            {
                "integration-name": "Amazon Pinpoint",
                "python-modules": ["airflow_provider_pinpoint.operators.pinpoint"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Amazon Pinpoint",
                "python-modules": ["airflow_provider_pinpoint.triggers.pinpoint"],
            }
        ],
    }
