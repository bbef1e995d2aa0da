"""Checks of rendered arguments, made before any API call; each error names the parameter and value."""

from __future__ import annotations

import math
import re
from typing import Any

_S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?")
_ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/[\w+=,.@\-/]{1,512}", re.ASCII)
#: The most polls waiter_max_attempts may ask for, and the longest wait in seconds (a year).
MAX_ATTEMPTS = 1_000_000
MAX_WAIT_SECONDS = 366 * 24 * 60 * 60


def check_id(name: str, value: Any, *, optional: bool = False) -> None:
    """
    Check that an id is a non-blank string without surrounding white space.

    The strings ``"None"``, ``"null"`` and ``"undefined"`` (any case) are refused too: they are
    what a template renders for a missing value, such as an XCom that was never pushed; so is a
    value that still holds Jinja markup.

    :param name: the parameter's name, used in the error.
    :param value: the rendered value.
    :param optional: whether None is allowed.
    :raises ValueError: naming the parameter and the value.
    """
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{name} must be a non-empty string without surrounding spaces, got {value!r}")
    if value.lower() in {"none", "null", "undefined"}:
        raise ValueError(f"{name} rendered to {value!r}: the template found no value (an empty XCom?)")
    if "{{" in value or "{%" in value:
        raise ValueError(f"{name} is an unrendered template: {value!r}")


def check_positive_int(name: str, value: Any, *, most: int | None = None) -> None:
    """
    Check an optional count: None, or an int of at least 1 (and at most ``most``); a bool is refused.

    :raises ValueError: naming the parameter and the value.
    """
    if value is None and most is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (most and value > most):
        allowed = f"an int from 1 to {most}" if most else "an int >= 1 or None"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_s3_url(value: Any, name: str = "s3_url_prefix") -> tuple[str, str]:
    """
    Check an S3 URL of the form ``s3://bucket`` or ``s3://bucket/prefix``.

    :return: ``(bucket, key_prefix)``; the key prefix has no leading slash and may be empty.
    :raises ValueError: naming the parameter and the value.
    """
    match = _S3_URL.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{name} must look like 's3://bucket' or 's3://bucket/prefix', got {value!r}")
    return match["bucket"], (match["key"] or "")


def check_export_request(
    application_id: Any, segment_id: Any, role_arn: Any, s3_url_prefix: Any, segment_version: Any
) -> None:
    """
    Check the arguments of CreateExportJob.

    :raises ValueError: naming the parameter and the value.
    """
    check_id("application_id", application_id)
    check_id("segment_id", segment_id)
    if not isinstance(role_arn, str) or not _ROLE_ARN.fullmatch(role_arn):
        raise ValueError(
            f"role_arn must be an IAM role ARN like 'arn:aws:iam::123456789012:role/name', got {role_arn!r}"
        )
    check_s3_url(s3_url_prefix)
    check_positive_int("segment_version", segment_version)


def check_wait(waiter_delay: Any, waiter_max_attempts: Any) -> None:
    """
    Check an operator's wait: a finite delay >= 0 s, 1 to ``MAX_ATTEMPTS`` polls, at most a year.

    :raises ValueError: naming the parameter and the value.
    """
    delay = waiter_delay
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay < math.inf:
        raise ValueError(f"waiter_delay must be a finite number of seconds >= 0, got {delay!r}")
    check_positive_int("waiter_max_attempts", waiter_max_attempts, most=MAX_ATTEMPTS)
    if delay * waiter_max_attempts > MAX_WAIT_SECONDS:
        raise ValueError(
            f"waiter_delay * waiter_max_attempts must be at most {MAX_WAIT_SECONDS} s (a year), "
            f"got waiter_delay={delay!r}, waiter_max_attempts={waiter_max_attempts!r}"
        )
