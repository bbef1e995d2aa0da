"""In-memory Amazon Pinpoint state: applications, endpoints, segments and export jobs.

Standard library only. The HTTP layer (``_wsgi``) turns requests into calls on :class:`PinpointStore`
and :class:`PinpointError` into Pinpoint's error responses; the emulator supplies an
:class:`ExportSink` that reaches S3 and IAM.

Export job lifecycle: a job's state is derived from the time elapsed since its creation, one state
per ``step_seconds`` seconds::

    CREATED -> PREPARING_FOR_INITIALIZATION -> INITIALIZING -> PROCESSING -> COMPLETING -> COMPLETED
                                                                         \\-> FAILING    -> FAILED

The export itself (checking bucket and role, writing the pieces) runs exactly once. For up to
``BACKGROUND_EXPORT_THRESHOLD`` endpoints it runs the first time a read reaches the state after
PROCESSING, so before any response reports COMPLETED or FAILED. A larger export runs in a
background thread started at the job's creation; until its last piece is written the job reports at
most COMPLETING, with CompletedPieces and TotalProcessed counting the pieces written so far.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import logging
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from ._endpoints import DemoBlock, EndpointSnapshot, EndpointTable, encode_piece

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 20
"""Items per page of a list operation when the request has no ``page-size``."""
MAX_PAGE_SIZE = 100
"""Largest accepted ``page-size``; larger values answer BadRequestException."""
MAX_BATCH_ITEMS = 100
"""Largest number of endpoints in one UpdateEndpointsBatch request."""
MAX_FAILURES = 100
"""Pinpoint reports at most this many entries in an export job's ``Failures``."""

SUCCESS_STATES = (
    "CREATED",
    "PREPARING_FOR_INITIALIZATION",
    "INITIALIZING",
    "PROCESSING",
    "COMPLETING",
    "COMPLETED",
)
FAILURE_STATES = (*SUCCESS_STATES[:4], "FAILING", "FAILED")
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED"})
_RUN_AT_INDEX = 4  # the export runs when a job first reaches COMPLETING/FAILING

BACKGROUND_EXPORT_THRESHOLD = 100_000
"""Exports of more endpoints than this run in a background thread from their creation on; smaller
ones run inside the first read that reaches COMPLETING (or COMPLETED), before it answers."""
_ENDPOINT_INPUT_FIELDS = (
    "Address",
    "Attributes",
    "ChannelType",
    "Demographic",
    "EffectiveDate",
    "EndpointStatus",
    "Location",
    "Metrics",
    "OptOut",
    "User",
)
_CHANNEL_TYPES = frozenset(
    {
        "PUSH",
        "GCM",
        "APNS",
        "APNS_SANDBOX",
        "APNS_VOIP",
        "APNS_VOIP_SANDBOX",
        "ADM",
        "SMS",
        "VOICE",
        "EMAIL",
        "BAIDU",
        "CUSTOM",
        "IN_APP",
    }
)
_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/(?:[\w+=,.@\-]+/)*(?P<name>[\w+=,.@\-]+)$")
_DEMOGRAPHIC_DIMENSIONS = {
    "Channel": ("ChannelType",),
    "AppVersion": ("Demographic", "AppVersion"),
    "Make": ("Demographic", "Make"),
    "Model": ("Demographic", "Model"),
    "Platform": ("Demographic", "Platform"),
}


class PinpointError(Exception):
    """An error answered in Pinpoint's shape: ``X-Amzn-ErrorType`` header, ``Message`` in the body."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def bad_request(message: str) -> PinpointError:
    """A 400 BadRequestException."""
    return PinpointError("BadRequestException", 400, message)


def not_found(message: str) -> PinpointError:
    """A 404 NotFoundException."""
    return PinpointError("NotFoundException", 404, message)


class ExportSink(Protocol):
    """Where export jobs write: checks their bucket and role, and stores their pieces."""

    def check(self, bucket: str, role_arn: str) -> list[str]:
        """Return reasons why a job writing to ``bucket`` as ``role_arn`` must fail (empty: none)."""
        ...

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Store one object; raise any exception to fail the piece."""
        ...


def iso_timestamp(seconds: float) -> str:
    """Format epoch seconds as Pinpoint does, e.g. ``"2026-11-29T08:00:00.123Z"``."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_s3_url(url: Any) -> tuple[str, str]:
    """Split ``s3://bucket/some/prefix`` into ``(bucket, "some/prefix")``; BadRequest when malformed."""
    match = _S3_URL.match(url) if isinstance(url, str) else None
    if match is None:
        raise bad_request("S3UrlPrefix must look like s3://bucket-name/optional/prefix")
    return match.group("bucket"), (match.group("key") or "").strip("/")


def role_name_from_arn(role_arn: str) -> str:
    """The role name (last path part) of an IAM role ARN; BadRequest when it is no role ARN."""
    match = _ROLE_ARN.match(role_arn)
    if match is None:
        raise bad_request("RoleArn must be an IAM role ARN (arn:aws:iam::<account-id>:role/<name>)")
    return match.group("name")


def parse_page_size(raw: str | None) -> int:
    """Parse the ``page-size`` query: default 20, a positive integer of at most 100."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise bad_request(f"page-size must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


@dataclass
class Application:
    """A Pinpoint project with its endpoints, segments and export jobs.

    ``job_ids`` and ``segment_job_ids`` (one list per segment) hold the job ids in sorted order, so
    a page of GetExportJobs or GetSegmentExportJobs is found by bisection, without a scan.
    """

    id: str
    name: str
    arn: str
    creation_date: str
    tags: dict[str, str]
    endpoints: EndpointTable = field(default_factory=EndpointTable)
    segments: dict[str, Segment] = field(default_factory=dict)
    jobs: dict[str, ExportJob] = field(default_factory=dict)
    job_ids: list[str] = field(default_factory=list)
    segment_job_ids: dict[str, list[str]] = field(default_factory=dict)
    pending_scripts: list[list[dict[str, Any]]] = field(default_factory=list)

    def render(self) -> dict[str, Any]:
        """The ApplicationResponse JSON."""
        return {
            "Arn": self.arn,
            "Id": self.id,
            "Name": self.name,
            "tags": dict(self.tags),
            "CreationDate": self.creation_date,
        }


@dataclass
class Segment:
    """A dimensional segment; only its Dimensions / SegmentGroups selection is evaluated."""

    id: str
    application_id: str
    arn: str
    name: str | None
    creation_date: str
    definition: dict[str, Any]
    tags: dict[str, str]
    version: int = 1

    def render(self) -> dict[str, Any]:
        """The SegmentResponse JSON."""
        body: dict[str, Any] = {
            "ApplicationId": self.application_id,
            "Arn": self.arn,
            "CreationDate": self.creation_date,
            "Id": self.id,
            "SegmentType": "DIMENSIONAL",
            "Version": self.version,
            "tags": dict(self.tags),
        }
        if self.name is not None:
            body["Name"] = self.name
        for key in ("Dimensions", "SegmentGroups"):
            if key in self.definition:
                body[key] = self.definition[key]
        return body

    def matches(self, endpoint: Mapping[str, Any]) -> bool:
        """Whether ``endpoint`` belongs to the segment."""
        dimensions = self.definition.get("Dimensions")
        if dimensions and not _matches_dimensions(dimensions, endpoint):
            return False
        groups = self.definition.get("SegmentGroups")
        return not groups or _matches_groups(groups, endpoint)


@dataclass
class ExportResult:
    """What running an export produced (computed once per job)."""

    completed_pieces: int
    failed_pieces: int
    total_failures: int
    failures: list[str]

    @property
    def ok(self) -> bool:
        """True when no piece failed."""
        return self.failed_pieces == 0


@dataclass
class ExportJob:
    """One export job with a snapshot of the endpoints it exports.

    ``done_pieces``, ``failed_pieces`` and ``done_endpoints`` count the pieces written (or failed)
    and the endpoints in them while the export runs; ``worker`` is its thread when it runs in the
    background, ``cancelled`` stops it.
    """

    id: str
    application_id: str
    created_at: float
    definition: dict[str, Any]
    endpoints: EndpointSnapshot
    total_pieces: int
    piece_size: int = 1000
    reached: int = 0
    result: ExportResult | None = None
    script: list[dict[str, Any]] = field(default_factory=list)
    script_cursor: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    done_pieces: int = 0
    failed_pieces: int = 0
    done_endpoints: int = 0
    worker: threading.Thread | None = field(default=None, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)


class PinpointStore:
    """The emulator's Pinpoint state and operations (one per emulator instance, thread-safe).

    :param region_name: Region used in ARNs.
    :param account_id: Account used in ARNs.
    :param clock: Returns the current time as epoch seconds.
    :param sink: Where export jobs check their bucket and role and write their pieces.
    :param step_seconds: Seconds a job spends in each lifecycle state (0: a job is finished on first read).
    :param piece_size: Endpoints per export piece (file).
    :param seed: Seed of the generators of ids and of page-token salts.
    """

    def __init__(
        self,
        region_name: str,
        account_id: str,
        clock: Callable[[], float],
        sink: ExportSink,
        step_seconds: float = 0.0,
        piece_size: int = 1000,
        seed: int = 0,
    ) -> None:
        if piece_size < 1:
            raise ValueError("piece_size must be at least 1")
        self.region_name = region_name
        self.account_id = account_id
        self.clock = clock
        self.sink = sink
        self.step_seconds = step_seconds
        self.piece_size = piece_size
        self._seed = seed
        self._lock = threading.RLock()
        self._apps: dict[str, Application] = {}
        self._rng = random.Random(seed)
        self._salt_rng = random.Random(seed)

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget every application (and so every endpoint, segment and job); reseed ids.

        Background exports still running stop before their next piece.
        """
        with self._lock:
            for app in self._apps.values():
                for job in app.jobs.values():
                    job.cancelled.set()
            self._apps.clear()
            self._rng = random.Random(self._seed)
            self._salt_rng = random.Random(self._seed)

    def new_id(self) -> str:
        """A random 32-character lowercase hex id, like Pinpoint's."""
        with self._lock:
            return f"{self._rng.getrandbits(128):032x}"

    def new_ids(self, n: int) -> list[str]:
        """``n`` ids, the same as ``n`` calls of :meth:`new_id`."""
        with self._lock:
            bits = self._rng.getrandbits
            return [f"{bits(128):032x}" for _ in range(n)]

    def now_iso(self) -> str:
        """The clock's current time as an ISO-8601 string."""
        return iso_timestamp(self.clock())

    def app(self, application_id: str) -> Application:
        """The application, or NotFoundException."""
        with self._lock:
            found = self._apps.get(application_id)
        if found is None:
            raise not_found("Application not found")
        return found

    # ----------------------------------------------------------------- apps
    def create_app(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """CreateApp: body is a CreateApplicationRequest."""
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            raise bad_request("Name is required")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise bad_request("tags must be a map of strings")
        return self.add_app(name, tags).render()

    def add_app(self, name: str, tags: Mapping[str, str] | None = None) -> Application:
        """Create and store an application directly (no validation)."""
        app_id = self.new_id()
        app = Application(
            id=app_id,
            name=name,
            arn=f"arn:aws:mobiletargeting:{self.region_name}:{self.account_id}:apps/{app_id}",
            creation_date=self.now_iso(),
            tags=dict(tags or {}),
        )
        with self._lock:
            self._apps[app_id] = app
        return app

    def get_app(self, application_id: str) -> dict[str, Any]:
        """GetApp."""
        return self.app(application_id).render()

    def delete_app(self, application_id: str) -> dict[str, Any]:
        """DeleteApp: answers the deleted ApplicationResponse."""
        with self._lock:
            app = self.app(application_id)
            del self._apps[application_id]
        return app.render()

    def get_apps(self, page_size: str | None, token: str | None) -> dict[str, Any]:
        """GetApps: an ApplicationsResponse page."""
        with self._lock:
            apps = sorted(self._apps.values(), key=lambda a: a.id)
        page, next_token = self._page([a.id for a in apps], page_size, token, "apps")
        by_id = {a.id: a for a in apps}
        return _with_token({"Item": [by_id[i].render() for i in page]}, next_token)

    # ----------------------------------------------------------------- endpoints
    def update_endpoint(self, application_id: str, endpoint_id: str, body: Mapping[str, Any]) -> None:
        """UpdateEndpoint: create the endpoint or replace the fields the request names."""
        app = self.app(application_id)
        self._upsert_endpoint(app, endpoint_id, body)

    def update_endpoints_batch(self, application_id: str, body: Mapping[str, Any]) -> None:
        """UpdateEndpointsBatch: body is an EndpointBatchRequest ``{"Item": [...]}``."""
        app = self.app(application_id)
        items = body.get("Item")
        if not isinstance(items, list) or not items:
            raise bad_request("Item must be a non-empty list of endpoints")
        if len(items) > MAX_BATCH_ITEMS:
            raise bad_request(f"A batch holds at most {MAX_BATCH_ITEMS} endpoints")
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Id"), str) or not item["Id"]:
                raise bad_request("Every batch item needs an Id")
            _validate_endpoint(item)
        for item in items:
            self._upsert_endpoint(app, item["Id"], item)

    def _upsert_endpoint(self, app: Application, endpoint_id: str, body: Mapping[str, Any]) -> None:
        _validate_endpoint(body)
        now = self.now_iso()
        with self._lock:
            old = app.endpoints.get(endpoint_id)
            # Stored endpoints are never mutated in place: export jobs keep references to them.
            new = dict(old) if old else _new_endpoint(app.id, endpoint_id, now)
            for key in _ENDPOINT_INPUT_FIELDS:
                if key in body and body[key] is not None:
                    new[key] = body[key]
            if "EffectiveDate" not in body:
                new["EffectiveDate"] = now
            app.endpoints.put(endpoint_id, new)

    def add_endpoints(self, application_id: str, endpoints: Iterable[Mapping[str, Any]]) -> None:
        """Store complete endpoint definitions directly (fast path for seeding; no validation)."""
        app = self.app(application_id)
        now = self.now_iso()
        with self._lock:
            for endpoint in endpoints:
                new = _new_endpoint(app.id, endpoint["Id"], now)
                new["EffectiveDate"] = now
                new.update(endpoint)
                app.endpoints.put(new["Id"], new)

    def add_demo_endpoints(self, application_id: str, n: int, channel_types: Sequence[str]) -> Sequence[str]:
        """Give an application without endpoints ``n`` deterministic demo endpoints; their ids.

        They are built from their index when read or exported, so a million take seconds and
        about a hundred megabytes.
        """
        app = self.app(application_id)
        ids = self.new_ids(n)
        with self._lock:
            app.endpoints.seed(DemoBlock(app.id, ids, channel_types, self.now_iso()))
        return ids

    def get_endpoint(self, application_id: str, endpoint_id: str) -> dict[str, Any]:
        """GetEndpoint: an EndpointResponse."""
        app = self.app(application_id)
        endpoint = app.endpoints.get(endpoint_id)
        if endpoint is None:
            raise not_found("Endpoint not found")
        body = dict(endpoint)
        body["CohortId"] = str(int(binascii.crc32(endpoint_id.encode()) % 100))
        return body

    # ----------------------------------------------------------------- segments
    def create_segment(self, application_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """CreateSegment: body is a WriteSegmentRequest (Dimensions and SegmentGroups of dimensions)."""
        app = self.app(application_id)
        name = body.get("Name")
        if name is not None and not isinstance(name, str):
            raise bad_request("Name must be a string")
        definition = {key: body[key] for key in ("Dimensions", "SegmentGroups") if body.get(key)}
        if "Dimensions" in definition:
            _check_dimensions(definition["Dimensions"])
        if "SegmentGroups" in definition:
            _check_groups(definition["SegmentGroups"])
        return self.add_segment(app.id, name, definition, body.get("tags") or {}).render()

    def add_segment(
        self,
        application_id: str,
        name: str | None,
        definition: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Segment:
        """Create and store a segment directly (no validation); no definition selects every endpoint."""
        app = self.app(application_id)
        segment_id = self.new_id()
        segment = Segment(
            id=segment_id,
            application_id=app.id,
            arn=f"{app.arn}/segments/{segment_id}",
            name=name,
            creation_date=self.now_iso(),
            definition=dict(definition or {}),
            tags=dict(tags or {}),
        )
        with self._lock:
            app.segments[segment_id] = segment
        return segment

    def segment(self, application_id: str, segment_id: str) -> Segment:
        """The segment, or NotFoundException."""
        found = self.app(application_id).segments.get(segment_id)
        if found is None:
            raise not_found("Segment not found")
        return found

    def get_segment(self, application_id: str, segment_id: str) -> dict[str, Any]:
        """GetSegment."""
        return self.segment(application_id, segment_id).render()

    def get_segments(self, application_id: str, page_size: str | None, token: str | None) -> dict[str, Any]:
        """GetSegments: a SegmentsResponse page."""
        app = self.app(application_id)
        with self._lock:
            segments = {s.id: s for s in app.segments.values()}
        page, next_token = self._page(sorted(segments), page_size, token, f"segments:{app.id}")
        return _with_token({"Item": [segments[i].render() for i in page]}, next_token)

    # ----------------------------------------------------------------- export jobs
    def create_export_job(self, application_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """CreateExportJob: body is an ExportJobRequest; answers the job in state CREATED."""
        app = self.app(application_id)
        role_arn = body.get("RoleArn")
        if not isinstance(role_arn, str) or not role_arn:
            raise bad_request("RoleArn is required")
        role_name_from_arn(role_arn)
        parse_s3_url(body.get("S3UrlPrefix"))
        definition: dict[str, Any] = {"RoleArn": role_arn, "S3UrlPrefix": body["S3UrlPrefix"]}
        segment_id = body.get("SegmentId")
        version = body.get("SegmentVersion")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise bad_request("SegmentVersion must be a positive integer")
        if segment_id is None:
            if version is not None:
                raise bad_request("SegmentVersion needs a SegmentId")
            with self._lock:
                endpoints = app.endpoints.snapshot()
        else:
            if not isinstance(segment_id, str) or not segment_id:
                raise bad_request("SegmentId must be a non-empty string")
            segment = self.segment(app.id, segment_id)
            if version is not None and version > segment.version:
                raise not_found("Segment version not found")
            definition["SegmentId"] = segment_id
            if version is not None:
                definition["SegmentVersion"] = version
            with self._lock:
                endpoints = app.endpoints.snapshot()
            if segment.definition:
                endpoints = endpoints.select(segment.matches)
        job = ExportJob(
            id=self.new_id(),
            application_id=app.id,
            created_at=self.clock(),
            definition=definition,
            endpoints=endpoints,
            total_pieces=max(1, -(-len(endpoints) // self.piece_size)),
            piece_size=self.piece_size,
        )
        with self._lock:
            if app.pending_scripts:
                job.script = app.pending_scripts.pop(0)
            self._store_jobs(app, [job])
        if len(endpoints) > BACKGROUND_EXPORT_THRESHOLD:
            self._run_once(job)
        return self._render_natural(job, index=0)

    def add_export_jobs(
        self,
        application_id: str,
        segment_id: str,
        n: int,
        role_arn: str,
        s3_url_prefix: str,
        interval_seconds: float = 60.0,
    ) -> list[str]:
        """Store ``n`` finished export jobs of a segment (see ``PinpointEmulator.seed_export_jobs``).

        The jobs are COMPLETED with one piece and nothing processed, as an export of an empty
        segment would be; no file is written, and reading them never runs an export. The newest
        was created ``interval_seconds`` before now, each other one ``interval_seconds`` before the
        next. Returns their ids, oldest first.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        app = self.app(application_id)
        self.segment(app.id, segment_id)
        parse_s3_url(s3_url_prefix)
        role_name_from_arn(role_arn)
        now = self.clock()
        # Read-only once stored (responses copy them), so every seeded job shares one of each.
        definition = {"RoleArn": role_arn, "S3UrlPrefix": s3_url_prefix, "SegmentId": segment_id}
        finished = ExportResult(completed_pieces=1, failed_pieces=0, total_failures=0, failures=[])
        jobs = [
            ExportJob(
                id=self.new_id(),
                application_id=app.id,
                created_at=now - (n - i) * interval_seconds,
                definition=definition,
                endpoints=_NO_ENDPOINTS,
                total_pieces=1,
                reached=len(SUCCESS_STATES) - 1,
                result=finished,
            )
            for i in range(n)
        ]
        with self._lock:
            self._store_jobs(app, jobs)
        return [job.id for job in jobs]

    def _store_jobs(self, app: Application, jobs: list[ExportJob]) -> None:
        """Add jobs to the application and to its sorted indexes (call with ``self._lock`` held)."""
        for job in jobs:
            app.jobs[job.id] = job
        _insert_sorted(app.job_ids, [job.id for job in jobs])
        by_segment: dict[str, list[str]] = {}
        for job in jobs:
            segment_id = job.definition.get("SegmentId")
            if segment_id is not None:
                by_segment.setdefault(segment_id, []).append(job.id)
        for segment_id, ids in by_segment.items():
            _insert_sorted(app.segment_job_ids.setdefault(segment_id, []), ids)

    def job(self, application_id: str, job_id: str) -> ExportJob:
        """The export job, or NotFoundException."""
        found = self.app(application_id).jobs.get(job_id)
        if found is None:
            raise not_found("Export job not found")
        return found

    def get_export_job(self, application_id: str, job_id: str) -> dict[str, Any]:
        """GetExportJob: the job's current ExportJobResponse (consumes one scripted step, if any)."""
        return self._render(self.job(application_id, job_id), advance_script=True)

    def get_export_jobs(
        self, application_id: str, page_size: str | None, token: str | None
    ) -> dict[str, Any]:
        """GetExportJobs: an ExportJobsResponse page of the application's jobs, ordered by job Id."""
        app = self.app(application_id)
        return self._job_page(app, app.job_ids, page_size, token, f"jobs:{app.id}")

    def get_segment_export_jobs(
        self, application_id: str, segment_id: str, page_size: str | None, token: str | None
    ) -> dict[str, Any]:
        """GetSegmentExportJobs: an ExportJobsResponse page of the segment's jobs, ordered by job Id."""
        app = self.app(application_id)
        self.segment(app.id, segment_id)
        ids = app.segment_job_ids.get(segment_id, [])
        return self._job_page(app, ids, page_size, token, f"jobs:{app.id}:{segment_id}")

    def _job_page(
        self, app: Application, ids: list[str], page_size: str | None, token: str | None, scope: str
    ) -> dict[str, Any]:
        with self._lock:
            page, next_token = self._page(ids, page_size, token, scope)
            jobs = [app.jobs[i] for i in page]
        items = [self._render(job, advance_script=False) for job in jobs]
        return _with_token({"Item": items}, next_token)

    def job_states(self, application_id: str | None = None) -> list[dict[str, Any]]:
        """Every export job (of one application, or of all), oldest first, as last reported.

        Each is an ExportJobResponse in the state the job last reported to a Pinpoint read
        (CREATED for one never read), plus ``Scripted`` (whether a script overrides its answers).
        Never runs an export and never advances a script.
        """
        with self._lock:
            apps = [self.app(application_id)] if application_id is not None else list(self._apps.values())
            jobs = sorted(
                (job for app in apps for job in app.jobs.values()), key=lambda j: (j.created_at, j.id)
            )
        states = []
        for job in jobs:
            body = self._render_natural(job, index=job.reached)
            body["Scripted"] = bool(job.script)
            states.append(body)
        return states

    def script_job(
        self, application_id: str, job_id: str | None, steps: Sequence[str | Mapping[str, Any]]
    ) -> None:
        """Override what a job reports; see :meth:`PinpointEmulator.script_job`."""
        script = [_script_step(step) for step in steps]
        if not script:
            raise ValueError("steps must not be empty")
        app = self.app(application_id)
        if job_id is None:
            with self._lock:
                app.pending_scripts.append(script)
            return
        job = self.job(application_id, job_id)
        with job.lock:
            job.script = script
            job.script_cursor = 0

    def _render(self, job: ExportJob, advance_script: bool) -> dict[str, Any]:
        body = self._render_natural(job, index=None)
        with job.lock:
            if not job.script:
                return body
            step = dict(job.script[min(job.script_cursor, len(job.script) - 1)])
            if advance_script:
                job.script_cursor += 1
        status = step.get("JobStatus")
        if status in TERMINAL_STATES:
            self._run_once(job, wait=True)
            body = self._render_natural(job, index=None)
            body.setdefault("CompletionDate", self.now_iso())
        elif status is not None:
            body.pop("CompletionDate", None)
        for key, value in step.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def _render_natural(self, job: ExportJob, index: int | None) -> dict[str, Any]:
        """The job as its clock says; ``index`` pins the lifecycle state (0 = CREATED)."""
        if index is None:
            step = self.step_seconds
            elapsed = self.clock() - job.created_at
            index = len(SUCCESS_STATES) - 1 if step <= 0 else min(5, int(elapsed / step + 1e-9))
            if index >= _RUN_AT_INDEX:
                self._run_once(job)
            with job.lock:
                if job.result is None:  # a background export still writing
                    index = min(index, _RUN_AT_INDEX)
                job.reached = index = max(index, job.reached)
        with job.lock:
            result = job.result if index >= _RUN_AT_INDEX else None
            progress = (job.done_pieces, job.failed_pieces, job.done_endpoints) if index >= 3 else (0, 0, 0)
        states = FAILURE_STATES if result is not None and not result.ok else SUCCESS_STATES
        status = states[index]
        body: dict[str, Any] = {
            "ApplicationId": job.application_id,
            "CompletedPieces": result.completed_pieces if result else progress[0],
            "CreationDate": iso_timestamp(job.created_at),
            "Definition": dict(job.definition),
            "FailedPieces": result.failed_pieces if result else progress[1],
            "Id": job.id,
            "JobStatus": status,
            "TotalFailures": result.total_failures if result else 0,
            "TotalPieces": job.total_pieces,
            "TotalProcessed": len(job.endpoints) if result else progress[2],
            "Type": "EXPORT",
        }
        if result is not None and result.failures:
            body["Failures"] = list(result.failures)
        if status in TERMINAL_STATES:
            step = max(self.step_seconds, 0.0)
            body["CompletionDate"] = iso_timestamp(job.created_at + step * (len(SUCCESS_STATES) - 1))
        return body

    def _run_once(self, job: ExportJob, wait: bool = False) -> None:
        """Check the bucket and role and write the job's pieces, exactly once per job.

        Exports of more than ``BACKGROUND_EXPORT_THRESHOLD`` endpoints start a thread and return
        at once, unless ``wait``.
        """
        with job.lock:
            if job.result is not None:
                return
            if len(job.endpoints) <= BACKGROUND_EXPORT_THRESHOLD:
                job.result = self._run(job)
                return
            if job.worker is None:
                job.worker = threading.Thread(
                    target=self._run_in_background, args=(job,), name=f"pinpoint-export-{job.id}", daemon=True
                )
                job.worker.start()
            worker = job.worker
        if wait:
            worker.join()

    def _run_in_background(self, job: ExportJob) -> None:
        try:
            result = self._run(job)
        except Exception:  # keep the job answering rather than leave it running for ever
            log.exception("Background export of job %s failed", job.id)
            result = ExportResult(0, job.total_pieces, len(job.endpoints), ["The export failed unexpectedly"])
        with job.lock:
            job.result = result

    def _run(self, job: ExportJob) -> ExportResult:
        """Write the pieces (progress in the job's counters); the caller stores the result."""
        bucket, prefix = parse_s3_url(job.definition["S3UrlPrefix"])
        total = len(job.endpoints)
        starts = range(0, max(total, 1), job.piece_size)
        try:
            reasons = self.sink.check(bucket, job.definition["RoleArn"])
        except Exception as exc:  # the sink could not even be asked
            reasons = [f"Could not check the bucket and role: {type(exc).__name__}"]
        if reasons:
            return ExportResult(0, len(starts), total, reasons[:MAX_FAILURES])
        folder = "/".join(part for part in (prefix, job.application_id, job.id) if part)
        failures: list[str] = []
        failed_pieces = failed_endpoints = 0
        for number, start in enumerate(starts):
            if job.cancelled.is_set():
                break
            stop = min(start + job.piece_size, total)
            key = f"{folder}/part-{number:05d}.gz"
            try:
                self.sink.put(bucket, key, encode_piece(job.endpoints.lines(start, stop)))
            except Exception as exc:
                failed_pieces += 1
                failed_endpoints += stop - start
                if len(failures) < MAX_FAILURES:
                    failures.append(f"Failed to write s3://{bucket}/{key}: {type(exc).__name__}")
                with job.lock:
                    job.failed_pieces += 1
            else:
                with job.lock:
                    job.done_pieces += 1
                    job.done_endpoints += stop - start
        return ExportResult(len(starts) - failed_pieces, failed_pieces, failed_endpoints, failures)

    # ----------------------------------------------------------------- pagination
    def _page(
        self, ids: list[str], page_size: str | None, token: str | None, scope: str
    ) -> tuple[list[str], str | None]:
        """Keyset pagination over sorted ids: every id present for the whole listing is seen once.

        The token holds the last id of the page, so the next page starts by bisection.
        """
        size = parse_page_size(page_size)
        start = bisect.bisect_right(ids, _decode_token(token, scope)) if token is not None else 0
        page = ids[start : start + size]
        if start + size >= len(ids):
            return page, None
        with self._lock:
            salt = f"{self._salt_rng.getrandbits(32):08x}"
        raw = json.dumps({"scope": scope, "after": page[-1], "salt": salt}, separators=(",", ":"))
        return page, base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


_NO_ENDPOINTS = EndpointSnapshot()


def _insert_sorted(ids: list[str], new: list[str]) -> None:
    """Add ``new`` to the sorted list ``ids``, keeping it sorted."""
    if len(new) == 1:
        bisect.insort(ids, new[0])
    else:
        ids.extend(new)
        ids.sort()


def _with_token(body: dict[str, Any], next_token: str | None) -> dict[str, Any]:
    if next_token is not None:
        body["NextToken"] = next_token
    return body


def _decode_token(token: str, scope: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["scope"] == scope and isinstance(data["after"], str):
            return data["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise bad_request("Invalid token")


def _new_endpoint(application_id: str, endpoint_id: str, now: str) -> dict[str, Any]:
    return {
        "ApplicationId": application_id,
        "Id": endpoint_id,
        "CreationDate": now,
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
    }


def _validate_endpoint(body: Mapping[str, Any]) -> None:
    channel = body.get("ChannelType")
    if channel is not None and channel not in _CHANNEL_TYPES:
        raise bad_request("ChannelType is not a valid channel type")
    for key in ("Address", "EndpointStatus", "OptOut", "EffectiveDate"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad_request(f"{key} must be a string")
    for key in ("Attributes", "Metrics", "User", "Location", "Demographic"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise bad_request(f"{key} must be an object")


def _script_step(step: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(step, str):
        return {"JobStatus": step}
    return dict(step)


# --------------------------------------------------------------------------- segment evaluation
def _check_dimensions(dimensions: Any) -> None:
    if not isinstance(dimensions, dict):
        raise bad_request("Dimensions must be an object")
    unsupported = set(dimensions) - {"Demographic", "Attributes", "UserAttributes"}
    demographic = dimensions.get("Demographic") or {}
    if not isinstance(demographic, dict):
        raise bad_request("Dimensions.Demographic must be an object")
    unsupported |= {f"Demographic.{k}" for k in set(demographic) - set(_DEMOGRAPHIC_DIMENSIONS)}
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise bad_request(f"The emulator does not evaluate these segment dimensions: {names}")
    for dimension in demographic.values():
        _check_set(dimension, ("DimensionType",))
    for key in ("Attributes", "UserAttributes"):
        attributes = dimensions.get(key) or {}
        if not isinstance(attributes, dict):
            raise bad_request(f"Dimensions.{key} must be a map")
        for dimension in attributes.values():
            _check_set(dimension, ("AttributeType",))


def _check_set(dimension: Any, type_keys: tuple[str, ...]) -> None:
    if not isinstance(dimension, dict) or not isinstance(dimension.get("Values"), list):
        raise bad_request("A set dimension needs a Values list")
    for key in type_keys:
        if dimension.get(key, "INCLUSIVE") not in ("INCLUSIVE", "EXCLUSIVE"):
            raise bad_request(f"The emulator supports only INCLUSIVE and EXCLUSIVE for {key}")


def _check_groups(groups: Any) -> None:
    if not isinstance(groups, dict) or not isinstance(groups.get("Groups", []), list):
        raise bad_request("SegmentGroups must hold a Groups list")
    for group in groups.get("Groups", []):
        if not isinstance(group, dict):
            raise bad_request("A segment group must be an object")
        if group.get("SourceSegments"):
            raise bad_request("The emulator does not evaluate SourceSegments")
        for dimensions in group.get("Dimensions", []):
            _check_dimensions(dimensions)


def _set_matches(dimension: Mapping[str, Any], value: Any, type_key: str) -> bool:
    values = value if isinstance(value, list) else [value]
    inside = any(v in dimension["Values"] for v in values if v is not None)
    return inside if dimension.get(type_key, "INCLUSIVE") == "INCLUSIVE" else not inside


def _lookup(endpoint: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = endpoint
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _matches_dimensions(dimensions: Mapping[str, Any], endpoint: Mapping[str, Any]) -> bool:
    for name, dimension in (dimensions.get("Demographic") or {}).items():
        if not _set_matches(dimension, _lookup(endpoint, _DEMOGRAPHIC_DIMENSIONS[name]), "DimensionType"):
            return False
    for key, path in (("Attributes", ("Attributes",)), ("UserAttributes", ("User", "UserAttributes"))):
        attributes = _lookup(endpoint, path) or {}
        for name, dimension in (dimensions.get(key) or {}).items():
            if not _set_matches(dimension, attributes.get(name), "AttributeType"):
                return False
    return True


def _combine(kind: str, results: Iterable[bool]) -> bool:
    values = list(results)
    if kind == "ANY":
        return any(values)
    if kind == "NONE":
        return not any(values)
    return all(values)


def _matches_groups(groups: Mapping[str, Any], endpoint: Mapping[str, Any]) -> bool:
    outcomes = (
        _combine(
            group.get("Type", "ALL"), (_matches_dimensions(d, endpoint) for d in group.get("Dimensions", []))
        )
        for group in groups.get("Groups", [])
    )
    return _combine(groups.get("Include", "ALL"), outcomes)
