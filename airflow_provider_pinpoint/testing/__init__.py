"""Local Amazon Pinpoint emulator for tests and demos.

``PinpointEmulator`` serves Pinpoint's apps, endpoints, segments and export jobs, next to moto's
S3/IAM/STS, on one local endpoint; ``SeedResult`` is what ``PinpointEmulator.seed`` returns.
Importing this package loads neither moto nor boto3: they are imported when the emulator starts.

Run ``python -m airflow_provider_pinpoint.testing serve --help`` for the command line, and load
``-p airflow_provider_pinpoint.testing.pytest_plugin`` for the ``pinpoint_emulator`` fixture.
"""

from airflow_provider_pinpoint.testing.emulator import PinpointEmulator, SeedResult

__all__ = ["PinpointEmulator", "SeedResult"]
