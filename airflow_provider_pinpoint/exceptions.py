"""The errors the provider raises, the one classifier of botocore errors, and the one message builder."""

from __future__ import annotations

from typing import Literal

from botocore.exceptions import (
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ProxyConnectionError,
    SSLError,
)

END_OF_SUPPORT_HINT = (
    "AWS ended support for Amazon Pinpoint segments and export jobs on 2026-10-30; "
    "on AWS this error is a likely consequence."
)
Kind = Literal["throttled", "transient", "unreachable", "permanent"]

_THROTTLING_CODES = frozenset({"TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "429"})
_TRANSIENT_CODES = frozenset(
    {"InternalServerErrorException", "InternalFailure", "InternalError", "ServiceUnavailable"}
    | {"ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException", "500", "502", "503", "504"}
)
_END_OF_SUPPORT_CODES = frozenset(
    {"ForbiddenException", "NotFoundException", "AccessDeniedException", "UnrecognizedClientException", "404"}
)
_TLS_TRANSIENT = ("EOF", "TIMED OUT", "RESET", "BROKEN PIPE")
_WHAT = {
    "throttled": "throttled.",
    "transient": "a server error or no answer in time.",
    "unreachable": f"the endpoint cannot be reached. {END_OF_SUPPORT_HINT}",
}


class PinpointError(Exception):
    """Base class of the errors the provider raises for a Pinpoint call or wait that did not succeed."""


class PinpointApiError(PinpointError):
    """
    A permanent error from the Pinpoint API, or a certificate that fails verification: asking
    again will not help.

    Not an AirflowException, so ``soft_fail`` never turns it into a skip. The message names the
    operation, what it was called for, the AWS error code and message, and the RequestID.

    :param message: the message.
    :param code: the AWS error code.
    :param request_id: the RequestID of the failed request.
    """

    def __init__(self, message: str, *, code: str | None = None, request_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.request_id = request_id


class PinpointTransientError(PinpointError):
    """
    A throttled, 5xx, or connection failure left after botocore's own retries: ask again later.

    It never means success or failure of the export job: the job's state is unknown.

    :param message: the message.
    :param reason: ``"throttled"`` (429 or a throttling code), ``"unreachable"`` (no connection:
        host not found, connection refused or timed out, proxy error) or ``"transient"`` (a 5xx,
        a read timeout, a dropped connection: the host answered or was reached).
    """

    def __init__(self, message: str, *, reason: Kind = "transient") -> None:
        super().__init__(message)
        self.reason = reason


class PinpointUnreachableError(PinpointError):
    """
    Every poll of a wait found the Pinpoint endpoint unreachable, for ``UNREACHABLE_AFTER`` seconds
    or until the wait's own budget ran out. Not an AirflowException, so ``soft_fail`` never hides it.
    """


class ExportJobTimeoutError(PinpointError, TimeoutError):
    """The export job was still running after the operator's waiter_max_attempts polls."""


class ExportJobNotFoundError(PinpointError, LookupError):
    """The segment has no export job yet, or the job asked for belongs to another segment."""


def classify(error: BaseException) -> Kind:
    """
    Decide what an error from a botocore client call means: the one classifier of the package.

    ``throttled``: a 429 or a throttling code; ``unreachable``: no connection could be made (host
    not found, refused, connect timeout, proxy error); ``transient``: a 5xx, a read timeout or a
    dropped connection (a TLS handshake cut short included); ``permanent``: anything else, a
    certificate that fails verification or an unusable CA bundle included, since asking again
    cannot fix it.

    :param error: an exception raised by a botocore client call.
    """
    if isinstance(error, SSLError):  # a handshake cut short may pass; a bad certificate or CA bundle not
        return "transient" if any(w in str(error).upper() for w in _TLS_TRANSIENT) else "permanent"
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)):
        return "unreachable"
    if isinstance(error, (ConnectionError, HTTPClientError)):
        return "transient"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if status == 429 or "Throttl" in code or code in _THROTTLING_CODES:
            return "throttled"
        if code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
            return "transient"
    return "permanent"


def is_transient(error: BaseException) -> bool:
    """
    Whether an error from botocore means "state unknown, ask again": throttling, 5xx, connection.

    :param error: an exception raised by a botocore client call.
    """
    return classify(error) != "permanent"


def pinpoint_error(
    operation: str, subject: str, error: ClientError | ConnectionError | HTTPClientError
) -> PinpointError:
    """
    The error to raise for a Pinpoint call that failed: the one message builder of the package.

    :param operation: the Pinpoint API operation, e.g. ``GetExportJob``.
    :param subject: what it was called for, e.g. ``application 'a1', job 'j1'``.
    :param error: what botocore raised.
    :return: a :class:`PinpointTransientError` (with its ``reason``) or a :class:`PinpointApiError`.
    """
    kind = classify(error)
    if kind != "permanent":
        return PinpointTransientError(
            f"Pinpoint {operation} for {subject} did not answer ({_short(error)}): {_WHAT[kind]}", reason=kind
        )
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        code, request_id = str(err.get("Code", "Unknown")), _request_id(error)
        message = f"Pinpoint {operation} failed for {subject}: {code}: {err.get('Message') or 'no message'}"
        message += f" (RequestID: {request_id or 'unknown'})."
        hint = f" {END_OF_SUPPORT_HINT}" if code in _END_OF_SUPPORT_CODES else ""
        return PinpointApiError(message + hint, code=code, request_id=request_id)
    kwargs = getattr(error, "kwargs", {})
    return PinpointApiError(
        f"Pinpoint {operation} for {subject} failed: the certificate of "
        f"{kwargs.get('endpoint_url')} did not verify ({kwargs.get('error')}). "
        "Asking again will not help: check the connection's verify setting (a CA bundle path "
        "or AWS_CA_BUNDLE) or a proxy that inspects TLS."
    )


def _request_id(error: ClientError) -> str | None:
    found = error.response.get("RequestID") or error.response.get("ResponseMetadata", {}).get("RequestId")
    return str(found) if found else None


def _short(error: BaseException) -> str:
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message')}, RequestID {_request_id(error)}"
    return f"{type(error).__name__}: {error}"
