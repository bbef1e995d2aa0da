"""The emulator's control API: plain JSON over HTTP under ``/_emulator/``, on the emulator's endpoint.

Unsigned requests; moto's own management paths (``/moto-api/``) are left to moto.

=======  ========================  ==================================================================
method   path                      what it does
=======  ========================  ==================================================================
GET      ``/_emulator/faults``     the fault switches and counters
POST     ``/_emulator/faults``     change the switches named in the JSON body; answers the new state
POST     ``/_emulator/reset``      wipe Pinpoint state, moto's S3/IAM state, faults and request log
GET      ``/_emulator/jobs``       every export job with its state (``?application_id=`` to narrow);
                                   listing never runs an export nor advances a script
POST     ``/_emulator/script``     script what a job reports, one step per GetExportJob (as
                                   ``PinpointEmulator.script_job``)
=======  ========================  ==================================================================

A POST to ``/_emulator/faults`` takes any of: ``throttle_rate`` and ``error_rate`` (0..1),
``latency`` (seconds), ``operations`` (a list of Pinpoint operation names limiting the switches set
in the same request; absent or ``null``: every operation), ``throttle_operations`` /
``error_operations`` / ``latency_operations`` (a limit for one switch), ``throttle_burst`` (N
requests in a row answer 429) with ``after`` (let that many through first), ``lose_create_answers``
(the next N CreateExportJob requests start their job, then answer 500) with ``drop_connection``
(close the connection instead of answering), and ``reset`` (``true``: turn every fault off first).
A POST to ``/_emulator/script`` takes ``application_id``, ``job_id`` (``null``: the next job
created in the application) and ``steps`` (a non-empty list, each a JobStatus string or an object of
ExportJobResponse members); an unknown application or job answers 404.
A bad field or value answers 400 with ``{"error": ..., "field": ..., "value": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from ._faults import FaultInjector, check_operations, check_switch
from ._store import PinpointError, PinpointStore

PREFIX = "/_emulator"
"""Path prefix of the control API."""

_OWN_LIMITS = {
    "throttle_rate": "throttle_operations",
    "error_rate": "error_operations",
    "latency": "latency_operations",
}
_PARTNERS = {
    "after": "throttle_burst",
    "burst_operations": "throttle_burst",
    "drop_connection": "lose_create_answers",
}
_FAULT_FIELDS = frozenset(
    {
        "throttle_rate",
        "error_rate",
        "latency",
        "operations",
        "throttle_operations",
        "error_operations",
        "latency_operations",
        "throttle_burst",
        "after",
        "burst_operations",
        "lose_create_answers",
        "drop_connection",
        "reset",
    }
)


class ControlError(Exception):
    """A request the control API refuses: HTTP status, message and the field and value at fault."""

    def __init__(self, status: int, message: str, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.value = value


def is_control_request(environ: dict[str, Any]) -> bool:
    """Whether a request is for the control API (its path is ``/_emulator`` or below)."""
    path = str(environ.get("PATH_INFO", ""))
    return path == PREFIX or path.startswith(PREFIX + "/")


class ControlApp:
    """WSGI app of the control API.

    :param store: The Pinpoint state (read for the job listing).
    :param faults: The fault switches to read and set.
    :param reset: Wipes everything (Pinpoint, moto, faults, request log), as ``PinpointEmulator.reset``.
    """

    def __init__(self, store: PinpointStore, faults: FaultInjector, reset: Callable[[], None]) -> None:
        self.store = store
        self.faults = faults
        self.reset = reset

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._handle(request)
        except ControlError as exc:
            body: dict[str, Any] = {"error": exc.message}
            if exc.field is not None:
                body.update(field=exc.field, value=exc.value)
            response = _json(exc.status, body)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            PREFIX: {"GET": self._index},
            f"{PREFIX}/faults": {"GET": self._get_faults, "POST": self._set_faults},
            f"{PREFIX}/reset": {"POST": self._reset},
            f"{PREFIX}/jobs": {"GET": self._jobs},
            f"{PREFIX}/script": {"POST": self._script},
        }
        methods = routes.get(path)
        if methods is None:
            raise ControlError(404, f"No control resource at {request.path}; see GET {PREFIX}/")
        handler = methods.get(request.method)
        if handler is None:
            raise ControlError(
                405, f"{request.method} is not allowed on {path} (allowed: {', '.join(methods)})"
            )
        return handler(request)

    def _index(self, request: Request) -> Response:
        return _json(
            200,
            {
                "paths": {
                    f"GET {PREFIX}/faults": "the fault switches and counters",
                    f"POST {PREFIX}/faults": "change fault switches (JSON body); answers the new state",
                    f"POST {PREFIX}/reset": "wipe Pinpoint, S3 and IAM state, faults and request log",
                    f"GET {PREFIX}/jobs": "export jobs and their states (?application_id=...)",
                    f"POST {PREFIX}/script": "script a job's answers (application_id, job_id, steps)",
                }
            },
        )

    def _get_faults(self, request: Request) -> Response:
        return _json(200, self.faults.snapshot())

    def _set_faults(self, request: Request) -> Response:
        apply_faults(self.faults, _body(request))
        return _json(200, self.faults.snapshot())

    def _reset(self, request: Request) -> Response:
        self.reset()
        return _json(200, {"reset": True})

    def _jobs(self, request: Request) -> Response:
        unknown = sorted(set(request.args) - {"application_id"})
        if unknown:
            raise ControlError(
                400, f"unknown query parameter {unknown[0]!r}", unknown[0], request.args[unknown[0]]
            )
        application_id = request.args.get("application_id")
        try:
            jobs = self.store.job_states(application_id)
        except PinpointError as exc:
            raise ControlError(404, str(exc), "application_id", application_id) from exc
        return _json(200, {"jobs": jobs})

    def _script(self, request: Request) -> Response:
        body = _body(request)
        for name in body:
            if name not in {"application_id", "job_id", "steps"}:
                raise ControlError(
                    400, f"unknown field {name!r} (known: application_id, job_id, steps)", name, body[name]
                )
        application_id, job_id, steps = body.get("application_id"), body.get("job_id"), body.get("steps")
        if not isinstance(application_id, str) or not application_id:
            raise ControlError(
                400, "application_id must be a non-empty string", "application_id", application_id
            )
        if job_id is not None and (not isinstance(job_id, str) or not job_id):
            raise ControlError(400, "job_id must be a non-empty string or null", "job_id", job_id)
        if not isinstance(steps, list) or not steps or not all(_is_step(step) for step in steps):
            raise ControlError(
                400,
                "steps must be a non-empty list of JobStatus strings or objects (JobStatus a string)",
                "steps",
                steps,
            )
        try:
            self.store.app(application_id)
        except PinpointError as exc:
            raise ControlError(404, str(exc), "application_id", application_id) from exc
        try:
            self.store.script_job(application_id, job_id, steps)
        except PinpointError as exc:
            raise ControlError(404, str(exc), "job_id", job_id) from exc
        return _json(200, {"application_id": application_id, "job_id": job_id, "steps": len(steps)})


def _is_step(step: Any) -> bool:
    """A JobStatus string, or an object of ExportJobResponse members whose JobStatus is a string
    (or null, which removes it, as in ``script_job``)."""
    if isinstance(step, dict):
        status = step.get("JobStatus", "")
        return status is None or isinstance(status, str)
    return isinstance(step, str) and bool(step)


def apply_faults(faults: FaultInjector, body: dict[str, Any]) -> None:
    """Validate a fault document (see the module docstring) as a whole, then apply it.

    Raises ControlError (400) naming the first bad field and its value; nothing changes then.
    """
    for name in body:
        if name not in _FAULT_FIELDS:
            raise ControlError(
                400, f"unknown field {name!r} (known: {', '.join(sorted(_FAULT_FIELDS))})", name, body[name]
            )
    limits: dict[str, list[str] | None] = {
        name: _operations(body, name)
        for name in (
            "operations",
            "throttle_operations",
            "error_operations",
            "latency_operations",
            "burst_operations",
        )
        if name in body
    }
    switches = {}
    for name in ("throttle_rate", "error_rate", "latency"):
        if name in body:
            try:
                check_switch(name, body[name])
            except ValueError as exc:
                raise ControlError(400, str(exc), name, body[name]) from exc
            switches[name] = float(body[name])
    counts = {
        name: _count(body, name)
        for name in ("throttle_burst", "after", "lose_create_answers")
        if name in body
    }
    for name in ("drop_connection", "reset"):
        if name in body and not isinstance(body[name], bool):
            raise ControlError(400, f"{name} must be true or false, got {body[name]!r}", name, body[name])
    for name, partner in _PARTNERS.items():
        if name in body and partner not in body:
            raise ControlError(400, f"{name} goes with {partner}", name, body[name])

    if body.get("reset"):
        faults.reset()
    shared = limits.get("operations")
    for switch, own in _OWN_LIMITS.items():
        if switch in switches:
            faults.set(**{switch: switches[switch]}, operations=limits.get(own, shared))
        elif own in limits:
            setattr(faults, own, check_operations(limits[own]))
    if "throttle_burst" in counts:
        faults.throttle_burst(
            counts["throttle_burst"],
            after=counts.get("after", 0),
            operations=limits.get("burst_operations", shared),
        )
    if "lose_create_answers" in counts:
        faults.lose_create_answers(
            counts["lose_create_answers"], drop_connection=body.get("drop_connection", False)
        )


def _operations(body: dict[str, Any], name: str) -> list[str] | None:
    value = body[name]
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ControlError(
            400, f"{name} must be a list of operation names or null, got {value!r}", name, value
        )
    try:
        check_operations(value)
    except ValueError as exc:
        raise ControlError(400, f"{name}: {exc}", name, value) from exc
    return value


def _count(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ControlError(400, f"{name} must be an integer, 0 or more, got {value!r}", name, value)
    return value


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise ControlError(400, f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError(400, "the request body must be a JSON object")
    return body


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body) + "\n", status=status, content_type="application/json")
