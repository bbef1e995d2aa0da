"""WSGI side of the emulator: Pinpoint's REST-JSON protocol, and the dispatcher in front of moto.

Every response carries ``x-amzn-RequestId``; errors carry ``X-Amzn-ErrorType`` and the body
``{"Message": ..., "RequestID": ...}``, which botocore parses into the modeled exception classes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from werkzeug.wrappers import Request, Response

from ._control import is_control_request
from ._faults import INTERNAL_ERROR, FaultInjector
from ._store import PinpointError, PinpointStore, bad_request, not_found

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PINPOINT_SIGNING_NAME = "mobiletargeting"
UNKNOWN_OPERATION = "UnknownOperation"
"""Operation name logged for a request that matches no Pinpoint route."""


class RequestRecord(NamedTuple):
    """One Pinpoint request as the emulator answered it: operation name and HTTP status.

    The status is 0 for a connection the emulator dropped without answering (a lost answer).
    """

    operation: str
    status: int


_APP = r"/v1/apps/(?P<app>[^/]+)"
_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^/v1/apps/?$"), {"GET": "GetApps", "POST": "CreateApp"}),
    (re.compile(rf"^{_APP}/?$"), {"GET": "GetApp", "DELETE": "DeleteApp"}),
    (re.compile(rf"^{_APP}/endpoints/?$"), {"PUT": "UpdateEndpointsBatch"}),
    (
        re.compile(rf"^{_APP}/endpoints/(?P<endpoint>[^/]+)/?$"),
        {"GET": "GetEndpoint", "PUT": "UpdateEndpoint"},
    ),
    (re.compile(rf"^{_APP}/segments/?$"), {"GET": "GetSegments", "POST": "CreateSegment"}),
    (re.compile(rf"^{_APP}/segments/(?P<segment>[^/]+)/?$"), {"GET": "GetSegment"}),
    (re.compile(rf"^{_APP}/jobs/export/?$"), {"GET": "GetExportJobs", "POST": "CreateExportJob"}),
    (re.compile(rf"^{_APP}/jobs/export/(?P<job>[^/]+)/?$"), {"GET": "GetExportJob"}),
    (re.compile(rf"^{_APP}/segments/(?P<segment>[^/]+)/jobs/export/?$"), {"GET": "GetSegmentExportJobs"}),
]


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """Map a request to ``(operation name, path parameters)``; raise NotFound / MethodNotAllowed."""
    for pattern, methods in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if method not in methods:
            raise PinpointError("MethodNotAllowedException", 405, f"Method {method} is not allowed here")
        return methods[method], match.groupdict()
    raise not_found("No Pinpoint resource at this path")


def is_pinpoint_request(environ: dict[str, Any]) -> bool:
    """Whether a request is SigV4-signed for Pinpoint (credential scope ``.../mobiletargeting/...``)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=([^,\s]+)", auth)
    scope = match.group(1) if match else ""
    if not scope:
        query = environ.get("QUERY_STRING", "")
        found = re.search(r"X-Amz-Credential=([^&]+)", query)
        scope = found.group(1).replace("%2F", "/").replace("%2f", "/") if found else ""
    parts = scope.split("/")
    return len(parts) == 5 and parts[3] == PINPOINT_SIGNING_NAME


class PinpointApp:
    """WSGI app answering Pinpoint operations from a :class:`PinpointStore`.

    :param store: The Pinpoint state.
    :param faults: Fault switches applied to every request before it reaches the store (and, for
        lost answers, to CreateExportJob after the store started the job).
    """

    def __init__(self, store: PinpointStore, faults: FaultInjector) -> None:
        self.store = store
        self.faults = faults
        self._log_lock = threading.Lock()
        self.request_log: list[RequestRecord] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request_id = str(uuid.uuid4())
        operation = UNKNOWN_OPERATION
        lost = None
        try:
            operation, params = route(request.method, request.path)
            response = self._faulted(operation, request_id)
            if response is None:
                response = self._handle(operation, params, request, request_id)
                if operation == "CreateExportJob":
                    lost = self.faults.take_lost_answer()
                    if lost is not None:
                        response = _error(
                            INTERNAL_ERROR.status, INTERNAL_ERROR.code, INTERNAL_ERROR.message, request_id
                        )
        except PinpointError as exc:
            response = _error(exc.status, exc.code, exc.message, request_id)
        except Exception:
            log.exception("Emulator failed while answering %s", operation)
            response = _error(500, "InternalServerErrorException", "Internal emulator error", request_id)
        with self._log_lock:
            self.request_log.append(RequestRecord(operation, 0 if lost == "drop" else response.status_code))
        if lost == "drop":
            _drop_connection(environ)
        return response(environ, start_response)

    def clear_log(self) -> None:
        """Forget the recorded requests."""
        with self._log_lock:
            self.request_log.clear()

    def _faulted(self, operation: str, request_id: str) -> Response | None:
        latency = self.faults.latency_for(operation)
        if latency > 0:
            time.sleep(latency)
        fault = self.faults.draw(operation)
        if fault is None:
            return None
        return _error(fault.status, fault.code, fault.message, request_id)

    def _handle(self, operation: str, p: dict[str, str], request: Request, request_id: str) -> Response:
        store = self.store
        page_size = request.args.get("page-size")
        token = request.args.get("token")
        if operation == "GetApps":
            return _json(200, store.get_apps(page_size, token), request_id)
        if operation == "CreateApp":
            return _json(201, store.create_app(_body(request)), request_id)
        if operation == "GetApp":
            return _json(200, store.get_app(p["app"]), request_id)
        if operation == "DeleteApp":
            return _json(200, store.delete_app(p["app"]), request_id)
        if operation == "UpdateEndpoint":
            store.update_endpoint(p["app"], p["endpoint"], _body(request))
            return _json(202, {"Message": "Accepted", "RequestID": request_id}, request_id)
        if operation == "UpdateEndpointsBatch":
            store.update_endpoints_batch(p["app"], _body(request))
            return _json(202, {"Message": "Accepted", "RequestID": request_id}, request_id)
        if operation == "GetEndpoint":
            return _json(200, store.get_endpoint(p["app"], p["endpoint"]), request_id)
        if operation == "CreateSegment":
            return _json(201, store.create_segment(p["app"], _body(request)), request_id)
        if operation == "GetSegment":
            return _json(200, store.get_segment(p["app"], p["segment"]), request_id)
        if operation == "GetSegments":
            return _json(200, store.get_segments(p["app"], page_size, token), request_id)
        if operation == "CreateExportJob":
            return _json(202, store.create_export_job(p["app"], _body(request)), request_id)
        if operation == "GetExportJob":
            return _json(200, store.get_export_job(p["app"], p["job"]), request_id)
        if operation == "GetExportJobs":
            return _json(200, store.get_export_jobs(p["app"], page_size, token), request_id)
        if operation == "GetSegmentExportJobs":
            body = store.get_segment_export_jobs(p["app"], p["segment"], page_size, token)
            return _json(200, body, request_id)
        raise not_found("No Pinpoint resource at this path")  # pragma: no cover - routes cover all


class DispatcherApp:
    """Send control requests (``/_emulator/...``) to ``control``, Pinpoint-signed requests to
    ``pinpoint`` and every other request to ``other`` (moto)."""

    def __init__(self, pinpoint: WSGIApp, other: WSGIApp, control: WSGIApp | None = None) -> None:
        self.pinpoint = pinpoint
        self.other = other
        self.control = control

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.control is not None and is_control_request(environ):
            return self.control(environ, start_response)
        target = self.pinpoint if is_pinpoint_request(environ) else self.other
        return target(environ, start_response)


def _drop_connection(environ: dict[str, Any]) -> None:
    """Close the client's connection without an answer (the server then sees it as dropped)."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("answer dropped by the emulator's fault injection")


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise bad_request("The request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def _json(status: int, body: dict[str, Any], request_id: str) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"x-amzn-RequestId": request_id},
    )


def _error(status: int, code: str, message: str, request_id: str) -> Response:
    response = _json(status, {"Message": message, "RequestID": request_id}, request_id)
    response.headers["X-Amzn-ErrorType"] = code
    return response
