"""SegmentExportS3Link: from a segment export task to the files it wrote, in the Amazon S3 console."""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class SegmentExportS3Link(BaseAwsLink):
    """
    The export's S3UrlPrefix in the S3 console, for the task's try and map index.

    The console domain follows the connection's partition (``aws``, ``aws-cn``, ``aws-us-gov``),
    as for every link of the Amazon provider. The operator and the sensor store it in XCom (key
    ``pinpoint_export_s3``) once the prefix is known, through ``context["ti"]``.
    """

    name = "Export in S3"
    key = "pinpoint_export_s3"
    format_str = BASE_AWS_CONSOLE_LINK + "/s3/buckets/{bucket}?region={region_name}&prefix={prefix}"
