"""Apache Airflow provider for Amazon Pinpoint segment export jobs."""

__version__ = "0.2.0"
