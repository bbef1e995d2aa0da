"""Conformance and behaviour of the local Pinpoint emulator, through plain boto3 clients over HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import Shape
from botocore.paginate import Paginator
from botocore.retries.standard import ExponentialBackoff

from airflow_provider_pinpoint.testing import PinpointEmulator, SeedResult
from airflow_provider_pinpoint.testing._faults import FaultInjector

MODEL = botocore.session.get_session().get_service_model("pinpoint")
NO_RETRIES = Config(retries={"total_max_attempts": 1})
NO_VALIDATION = Config(retries={"total_max_attempts": 1}, parameter_validation=False)
EXPORT_FIELDS = {
    "Id",
    "ChannelType",
    "Address",
    "EndpointStatus",
    "OptOut",
    "EffectiveDate",
    "Attributes",
    "Metrics",
    "User",
    "Location",
    "Demographic",
    "ApplicationId",
    "CreationDate",
}
START = datetime(2026, 11, 29, 8, 0, tzinfo=timezone.utc).timestamp()


# --------------------------------------------------------------------------- helpers
def shape_errors(shape: Shape, value: Any, path: str = "$", check_enums: bool = True) -> list[str]:
    """Every way ``value`` (decoded JSON) breaks botocore's ``shape``: required, types, unknown members."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        errors = [
            f"{path}.{name}: required member missing" for name in shape.required_members if name not in value
        ]
        members = {m.serialization.get("name", n): m for n, m in shape.members.items()}
        for key, item in value.items():
            if key not in members:
                errors.append(f"{path}.{key}: not a member of {shape.name}")
            else:
                errors += shape_errors(members[key], item, f"{path}.{key}", check_enums)
        return errors
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected list, got {type(value).__name__}"]
        return [
            e
            for i, item in enumerate(value)
            for e in shape_errors(shape.member, item, f"{path}[{i}]", check_enums)
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected map, got {type(value).__name__}"]
        return [
            e
            for k, item in value.items()
            for e in shape_errors(shape.value, item, f"{path}.{k}", check_enums)
        ]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected string, got {type(value).__name__}"]
        enum = shape.enum
        return [f"{path}: {value!r} not in {enum}"] if check_enums and enum and value not in enum else []
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected integer, got {type(value).__name__}"]
    if kind in ("double", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected number, got {type(value).__name__}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected boolean"]
    return [f"{path}: unexpected shape type {kind}"]


def output_payload_shape(operation: str) -> Shape:
    """The shape of an operation's bare response body (its payload member)."""
    output = MODEL.operation_model(operation).output_shape
    return output.members[output.serialization["payload"]]


class RawCapture:
    """Records each pinpoint response's operation, status, headers and decoded JSON body."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, int, dict[str, str], Any]] = []

    def __call__(self, operation_model: Any, response_dict: dict[str, Any], **kwargs: Any) -> None:
        body = json.loads(response_dict["body"]) if response_dict["body"] else None
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        self.responses.append((operation_model.name, response_dict["status_code"], headers, body))

    @property
    def last(self) -> tuple[str, int, dict[str, str], Any]:
        return self.responses[-1]


def captured_client(emu: PinpointEmulator, config: Config | None = None) -> tuple[Any, RawCapture]:
    client = emu.client("pinpoint", config=config or NO_RETRIES)
    capture = RawCapture()
    client.meta.events.register("before-parse.pinpoint", capture)
    return client, capture


class FakeClock:
    """A controllable clock in epoch seconds."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def export_request(seeded: SeedResult, **extra: Any) -> dict[str, Any]:
    return {"RoleArn": seeded.role_arn, "S3UrlPrefix": seeded.s3_base_prefix, **extra}


def create_job(client: Any, seeded: SeedResult, **extra: Any) -> dict[str, Any]:
    response = client.create_export_job(
        ApplicationId=seeded.application_id, ExportJobRequest=export_request(seeded, **extra)
    )
    return response["ExportJobResponse"]


def get_job(client: Any, application_id: str, job_id: str) -> dict[str, Any]:
    return client.get_export_job(ApplicationId=application_id, JobId=job_id)["ExportJobResponse"]


def read_export(emu: PinpointEmulator, bucket: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every .gz object under ``prefix`` (listed recursively) mapped to its decoded lines."""
    s3 = emu.client("s3")
    files = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            raw = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            text = gzip.decompress(raw).decode("utf-8")
            files[obj["Key"]] = [json.loads(line) for line in text.splitlines()]
    return files


@pytest.fixture
def emu(pinpoint_emulator: PinpointEmulator) -> PinpointEmulator:
    return pinpoint_emulator


@pytest.fixture
def seeded(emu: PinpointEmulator) -> SeedResult:
    return emu.seed(n_endpoints=25)


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., PinpointEmulator]]:
    """Start extra emulators (e.g. with a fake clock); moto state is wiped first, all stop at the end."""
    started: list[PinpointEmulator] = []

    def make(**kwargs: Any) -> PinpointEmulator:
        emulator = PinpointEmulator(**kwargs).start()
        started.append(emulator)
        emulator.reset()
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


# --------------------------------------------------------------------------- conformance
def test_every_operation_answers_model_conformant_bodies(emu: PinpointEmulator) -> None:
    client, capture = captured_client(emu)
    seeded = emu.seed(n_endpoints=3)

    app = client.create_app(CreateApplicationRequest={"Name": "conformance", "tags": {"team": "data"}})
    app_id = app["ApplicationResponse"]["Id"]
    client.get_app(ApplicationId=app_id)
    client.get_apps(PageSize="1")
    client.update_endpoint(
        ApplicationId=app_id,
        EndpointId="ep-1",
        EndpointRequest={
            "ChannelType": "EMAIL",
            "Address": "a@example.com",
            "Attributes": {"Plan": ["pro"]},
            "Metrics": {"score": 1.5},
            "User": {"UserId": "u-1", "UserAttributes": {"Tier": ["gold"]}},
            "Location": {"Country": "US", "Latitude": 1.0, "Longitude": 2.0},
            "Demographic": {"Platform": "ios"},
        },
    )
    client.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={"Item": [{"Id": "ep-2", "ChannelType": "SMS", "Address": "+15550000001"}]},
    )
    client.get_endpoint(ApplicationId=app_id, EndpointId="ep-1")
    segment = client.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={
            "Name": "email",
            "Dimensions": {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": ["EMAIL"]}}},
        },
    )["SegmentResponse"]
    client.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])
    client.get_segments(ApplicationId=app_id)
    job = create_job(client, seeded, SegmentId=seeded.segment_id, SegmentVersion=1)
    get_job(client, seeded.application_id, job["Id"])
    create_job(client, seeded)
    client.get_export_jobs(ApplicationId=seeded.application_id, PageSize="1")
    client.get_segment_export_jobs(ApplicationId=seeded.application_id, SegmentId=seeded.segment_id)
    client.delete_app(ApplicationId=app_id)

    expected_status = {"CreateApp": 201, "CreateSegment": 201, "CreateExportJob": 202}
    expected_status |= {"UpdateEndpoint": 202, "UpdateEndpointsBatch": 202}
    seen = set()
    for operation, status, headers, body in capture.responses:
        seen.add(operation)
        assert status == expected_status.get(operation, 200), operation
        assert headers["x-amzn-requestid"]
        assert shape_errors(output_payload_shape(operation), body) == [], operation
    assert seen == {
        "CreateApp",
        "GetApp",
        "GetApps",
        "DeleteApp",
        "UpdateEndpoint",
        "UpdateEndpointsBatch",
        "GetEndpoint",
        "CreateSegment",
        "GetSegment",
        "GetSegments",
        "CreateExportJob",
        "GetExportJob",
        "GetExportJobs",
        "GetSegmentExportJobs",
    }
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(ApplicationId=app_id)


def test_shape_validator_catches_off_model_bodies() -> None:
    shape = output_payload_shape("GetExportJob")
    good = {
        "ApplicationId": "a",
        "CreationDate": "2026-11-29T08:00:00.000Z",
        "Definition": {"RoleArn": "r", "S3UrlPrefix": "s3://b"},
        "Id": "j",
        "JobStatus": "COMPLETED",
        "Type": "EXPORT",
    }
    assert shape_errors(shape, good) == []
    assert shape_errors(shape, {**good, "Definition": {}}) == [
        "$.Definition.S3UrlPrefix: required member missing",
        "$.Definition.RoleArn: required member missing",
    ]
    assert shape_errors(shape, {**good, "Extra": 1}) == ["$.Extra: not a member of ExportJobResponse"]
    assert shape_errors(shape, {**good, "TotalPieces": "3"}) == ["$.TotalPieces: expected integer, got str"]
    assert shape_errors(shape, {**good, "JobStatus": "SOMETHING_NEW"}) != []


def test_create_export_job_answers_created_with_definition_as_requested(emu: PinpointEmulator) -> None:
    seeded = emu.seed(n_endpoints=5)
    client = emu.client("pinpoint")
    response = client.create_export_job(
        ApplicationId=seeded.application_id,
        ExportJobRequest=export_request(seeded, SegmentId=seeded.segment_id, SegmentVersion=1),
    )
    job = response["ExportJobResponse"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert job["JobStatus"] == "CREATED"
    assert job["Type"] == "EXPORT"
    assert job["ApplicationId"] == seeded.application_id
    assert len(job["Id"]) == 32
    assert job["Definition"] == {
        "RoleArn": seeded.role_arn,
        "S3UrlPrefix": seeded.s3_base_prefix,
        "SegmentId": seeded.segment_id,
        "SegmentVersion": 1,
    }
    assert job["TotalPieces"] == 1
    assert "CompletionDate" not in job
    datetime.strptime(job["CreationDate"], "%Y-%m-%dT%H:%M:%S.%fZ")
    no_segment = create_job(client, seeded)
    assert no_segment["Definition"] == {"RoleArn": seeded.role_arn, "S3UrlPrefix": seeded.s3_base_prefix}


def test_endpoints_are_created_updated_and_read_back(emu: PinpointEmulator) -> None:
    client = emu.client("pinpoint", config=NO_RETRIES)
    app_id = client.create_app(CreateApplicationRequest={"Name": "e"})["ApplicationResponse"]["Id"]
    client.update_endpoint(
        ApplicationId=app_id,
        EndpointId="ep-1",
        EndpointRequest={
            "ChannelType": "EMAIL",
            "Address": "a@example.com",
            "Attributes": {"Plan": ["free"]},
        },
    )
    client.update_endpoint(
        ApplicationId=app_id, EndpointId="ep-1", EndpointRequest={"Attributes": {"Plan": ["pro"]}}
    )
    endpoint = client.get_endpoint(ApplicationId=app_id, EndpointId="ep-1")["EndpointResponse"]
    assert endpoint["Address"] == "a@example.com"
    assert endpoint["Attributes"] == {"Plan": ["pro"]}
    assert endpoint["ApplicationId"] == app_id
    assert endpoint["EndpointStatus"] == "ACTIVE"
    message = client.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={"Item": [{"Id": f"b-{i}", "ChannelType": "SMS"} for i in range(3)]},
    )["MessageBody"]
    assert message["Message"] == "Accepted" and message["RequestID"]
    assert (
        client.get_endpoint(ApplicationId=app_id, EndpointId="b-2")["EndpointResponse"]["ChannelType"]
        == "SMS"
    )
    with pytest.raises(client.exceptions.BadRequestException):
        client.update_endpoints_batch(
            ApplicationId=app_id, EndpointBatchRequest={"Item": [{"Id": f"x-{i}"} for i in range(101)]}
        )


# --------------------------------------------------------------------------- errors
def _app(seeded: SeedResult) -> dict[str, str]:
    return {"ApplicationId": seeded.application_id}


ERROR_CASES: list[tuple[str, str, int, Callable[[Any, SeedResult], Any]]] = [
    ("unknown app", "NotFoundException", 404, lambda c, s: c.get_app(ApplicationId="f" * 32)),
    ("unknown segment", "NotFoundException", 404, lambda c, s: c.get_segment(**_app(s), SegmentId="nope")),
    ("unknown job", "NotFoundException", 404, lambda c, s: c.get_export_job(**_app(s), JobId="nope")),
    ("unknown endpoint", "NotFoundException", 404, lambda c, s: c.get_endpoint(**_app(s), EndpointId="nope")),
    (
        "jobs of unknown app",
        "NotFoundException",
        404,
        lambda c, s: c.get_export_jobs(ApplicationId="f" * 32),
    ),
    (
        "jobs of unknown segment",
        "NotFoundException",
        404,
        lambda c, s: c.get_segment_export_jobs(**_app(s), SegmentId="nope"),
    ),
    (
        "export of unknown segment",
        "NotFoundException",
        404,
        lambda c, s: c.create_export_job(**_app(s), ExportJobRequest=export_request(s, SegmentId="nope")),
    ),
    (
        "export of unknown segment version",
        "NotFoundException",
        404,
        lambda c, s: c.create_export_job(
            **_app(s), ExportJobRequest=export_request(s, SegmentId=s.segment_id, SegmentVersion=9)
        ),
    ),
    (
        "invalid channel type",
        "BadRequestException",
        400,
        lambda c, s: c.update_endpoint(**_app(s), EndpointId="e", EndpointRequest={"ChannelType": "FAX"}),
    ),
    ("app without name", "BadRequestException", 400, lambda c, s: c.create_app(CreateApplicationRequest={})),
    ("unknown path", "NotFoundException", 404, lambda c, s: c.get_campaigns(**_app(s))),
    (
        "wrong method",
        "MethodNotAllowedException",
        405,
        lambda c, s: c.delete_segment(**_app(s), SegmentId=s.segment_id),
    ),
    ("page size zero", "BadRequestException", 400, lambda c, s: c.get_export_jobs(**_app(s), PageSize="0")),
    ("page size text", "BadRequestException", 400, lambda c, s: c.get_export_jobs(**_app(s), PageSize="ten")),
    ("page size negative", "BadRequestException", 400, lambda c, s: c.get_segments(**_app(s), PageSize="-1")),
    (
        "page size too big",
        "BadRequestException",
        400,
        lambda c, s: c.get_export_jobs(**_app(s), PageSize="101"),
    ),
    (
        "segment jobs page size",
        "BadRequestException",
        400,
        lambda c, s: c.get_segment_export_jobs(**_app(s), SegmentId=s.segment_id, PageSize="1.5"),
    ),
    ("garbage token", "BadRequestException", 400, lambda c, s: c.get_export_jobs(**_app(s), Token="garbage")),
    (
        "prefix without scheme",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(
            **_app(s), ExportJobRequest=export_request(s, S3UrlPrefix="bucket/x")
        ),
    ),
    (
        "https prefix",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(
            **_app(s), ExportJobRequest=export_request(s, S3UrlPrefix="https://bucket.s3.amazonaws.com/x")
        ),
    ),
    (
        "prefix without bucket",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(**_app(s), ExportJobRequest=export_request(s, S3UrlPrefix="s3://")),
    ),
    (
        "missing RoleArn",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(**_app(s), ExportJobRequest={"S3UrlPrefix": s.s3_base_prefix}),
    ),
    (
        "empty RoleArn",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(**_app(s), ExportJobRequest=export_request(s, RoleArn="")),
    ),
    (
        "RoleArn of no role",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(
            **_app(s), ExportJobRequest=export_request(s, RoleArn="arn:aws:s3:::b")
        ),
    ),
    (
        "SegmentVersion zero",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(
            **_app(s), ExportJobRequest=export_request(s, SegmentId=s.segment_id, SegmentVersion=0)
        ),
    ),
    (
        "SegmentVersion text",
        "BadRequestException",
        400,
        lambda c, s: c.create_export_job(
            **_app(s), ExportJobRequest=export_request(s, SegmentId=s.segment_id, SegmentVersion="one")
        ),
    ),
]


@pytest.mark.parametrize(
    ("code", "status", "call"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_errors_parse_into_modeled_exceptions(
    emu: PinpointEmulator, seeded: SeedResult, code: str, status: int, call: Callable[[Any, SeedResult], Any]
) -> None:
    client, capture = captured_client(emu, NO_VALIDATION)
    with pytest.raises(ClientError) as caught:
        call(client, seeded)
    error = caught.value
    assert isinstance(error, getattr(client.exceptions, code))
    assert error.response["Error"]["Code"] == code
    assert error.response["Error"]["Message"]
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error.response["RequestID"] == error.response["ResponseMetadata"]["RequestId"]
    _, raw_status, headers, body = capture.last
    assert raw_status == status
    assert headers["x-amzn-errortype"] == code
    assert set(body) == {"Message", "RequestID"}
    assert shape_errors(MODEL.shape_for(code), body) == []


def test_bucket_only_prefix_is_accepted(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    job = create_job(client, seeded, S3UrlPrefix=f"s3://{seeded.bucket}")
    assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "COMPLETED"
    keys = list(read_export(emu, seeded.bucket, f"{seeded.application_id}/{job['Id']}/"))
    assert keys == [f"{seeded.application_id}/{job['Id']}/part-00000.gz"]


# --------------------------------------------------------------------------- pagination
def _all_pages(fetch: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = []
    token = None
    while True:
        page = fetch(**kwargs, **({"Token": token} if token else {}))[key]
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


def test_export_job_pagination(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client, capture = captured_client(emu)
    created = [create_job(client, seeded, SegmentId=seeded.segment_id)["Id"] for _ in range(30)]
    created += [create_job(client, seeded)["Id"] for _ in range(15)]
    app = _app(seeded)

    pages = _all_pages(client.get_export_jobs, "ExportJobsResponse", **app, PageSize="10")
    assert [len(p["Item"]) for p in pages] == [10, 10, 10, 10, 5]
    listed = [job["Id"] for page in pages for job in page["Item"]]
    assert sorted(listed) == sorted(created) and len(set(listed)) == 45
    assert listed == sorted(listed), "ordered by job Id"
    assert listed not in (created, created[::-1]), "neither oldest nor newest first"
    tokens = [p["NextToken"] for p in pages[:-1]]
    assert len(set(tokens)) == len(tokens)
    assert not any(t.isdigit() for t in tokens)
    assert "NextToken" not in pages[-1]
    assert "NextToken" not in capture.last[3], "the last page has no NextToken on the wire"

    default_pages = _all_pages(client.get_export_jobs, "ExportJobsResponse", **app)
    assert [len(p["Item"]) for p in default_pages] == [20, 20, 5]
    single = client.get_export_jobs(**app, PageSize="100")["ExportJobsResponse"]
    assert len(single["Item"]) == 45 and "NextToken" not in single

    segment_pages = _all_pages(
        client.get_segment_export_jobs, "ExportJobsResponse", **app, SegmentId=seeded.segment_id, PageSize="7"
    )
    segment_ids = [job["Id"] for page in segment_pages for job in page["Item"]]
    assert sorted(segment_ids) == sorted(created[:30])
    assert all(
        job["Definition"]["SegmentId"] == seeded.segment_id for p in segment_pages for job in p["Item"]
    )

    with pytest.raises(client.exceptions.BadRequestException):
        client.get_segment_export_jobs(**app, SegmentId=seeded.segment_id, Token=pages[0]["NextToken"])


def test_pagination_sees_every_job_once_while_jobs_are_added(
    emu: PinpointEmulator, seeded: SeedResult
) -> None:
    client = emu.client("pinpoint")
    before = {create_job(client, seeded)["Id"] for _ in range(12)}
    page = client.get_export_jobs(**_app(seeded), PageSize="5")["ExportJobsResponse"]
    seen = [job["Id"] for job in page["Item"]]
    for _ in range(5):
        create_job(client, seeded)
    token = page["NextToken"]
    while token:
        page = client.get_export_jobs(**_app(seeded), PageSize="5", Token=token)["ExportJobsResponse"]
        seen += [job["Id"] for job in page["Item"]]
        token = page.get("NextToken")
    assert len(seen) == len(set(seen))
    assert before <= set(seen)


def test_hand_built_botocore_paginator_works(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    created = {create_job(client, seeded)["Id"] for _ in range(7)}
    config = {
        "input_token": "Token",
        "output_token": "ExportJobsResponse.NextToken",
        "limit_key": "PageSize",
        "result_key": "ExportJobsResponse.Item",
    }
    paginator = Paginator(
        client.get_export_jobs, config, client.meta.service_model.operation_model("GetExportJobs")
    )
    pages = list(paginator.paginate(**_app(seeded), PaginationConfig={"PageSize": "3"}))
    assert [len(p["ExportJobsResponse"]["Item"]) for p in pages] == [3, 3, 1]
    assert {job["Id"] for p in pages for job in p["ExportJobsResponse"]["Item"]} == created


def test_apps_and_segments_paginate(emu: PinpointEmulator) -> None:
    client = emu.client("pinpoint")
    app_ids = {
        client.create_app(CreateApplicationRequest={"Name": f"a{i}"})["ApplicationResponse"]["Id"]
        for i in range(5)
    }
    pages = _all_pages(client.get_apps, "ApplicationsResponse", PageSize="2")
    assert [len(p["Item"]) for p in pages] == [2, 2, 1]
    assert {a["Id"] for p in pages for a in p["Item"]} == app_ids
    app_id = sorted(app_ids)[0]
    segment_ids = {
        client.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": f"s{i}"})["SegmentResponse"][
            "Id"
        ]
        for i in range(3)
    }
    pages = _all_pages(client.get_segments, "SegmentsResponse", ApplicationId=app_id, PageSize="2")
    assert {s["Id"] for p in pages for s in p["Item"]} == segment_ids


def test_tokens_are_opaque(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    for _ in range(3):
        create_job(client, seeded)
    first = client.get_export_jobs(**_app(seeded), PageSize="1")["ExportJobsResponse"]["NextToken"]
    again = client.get_export_jobs(**_app(seeded), PageSize="1")["ExportJobsResponse"]["NextToken"]
    assert first != again, "salted"
    assert not first.isdigit()
    base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))  # opaque, but well-formed


# --------------------------------------------------------------------------- lifecycle
def test_lifecycle_follows_the_clock(make_emulator: Callable[..., PinpointEmulator]) -> None:
    clock = FakeClock()
    emu = make_emulator(step_seconds=2.0, clock=clock)
    seeded = emu.seed(n_endpoints=10)
    client, capture = captured_client(emu)
    job = create_job(client, seeded)
    assert job["JobStatus"] == "CREATED"
    assert job["CreationDate"] == "2026-11-29T08:00:00.000Z"
    prefix = f"exports/{seeded.application_id}/{job['Id']}/"

    seen = []
    for _ in range(7):
        current = get_job(client, seeded.application_id, job["Id"])
        seen.append(current["JobStatus"])
        if current["JobStatus"] in ("CREATED", "PREPARING_FOR_INITIALIZATION", "INITIALIZING", "PROCESSING"):
            assert read_export(emu, seeded.bucket, prefix) == {}, "nothing written before COMPLETING"
            assert current["CompletedPieces"] == 0
            assert "CompletionDate" not in current
        clock.advance(2.0)
    assert seen == [
        "CREATED",
        "PREPARING_FOR_INITIALIZATION",
        "INITIALIZING",
        "PROCESSING",
        "COMPLETING",
        "COMPLETED",
        "COMPLETED",
    ]
    final = get_job(client, seeded.application_id, job["Id"])
    assert final["CompletionDate"] == "2026-11-29T08:00:10.000Z"
    assert final["CompletedPieces"] == final["TotalPieces"] == 1
    assert final["TotalProcessed"] == 10
    assert len(read_export(emu, seeded.bucket, prefix)) == 1
    for _, _, _, body in capture.responses:
        assert shape_errors(output_payload_shape("GetExportJob"), body) == []


def test_state_never_goes_back_and_step_seconds_is_settable(
    make_emulator: Callable[..., PinpointEmulator],
) -> None:
    clock = FakeClock()
    emu = make_emulator(step_seconds=1.0, clock=clock)
    seeded = emu.seed(n_endpoints=2)
    client = emu.client("pinpoint")
    job = create_job(client, seeded)
    clock.advance(3.5)
    assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "PROCESSING"
    emu.step_seconds = 100.0
    assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "PROCESSING"
    emu.step_seconds = 0.0
    assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "COMPLETED"
    emu.step_seconds = 100.0
    assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "COMPLETED"


def test_step_seconds_zero_completes_on_first_read(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    job = create_job(client, seeded)
    assert job["JobStatus"] == "CREATED"
    done = get_job(client, seeded.application_id, job["Id"])
    assert done["JobStatus"] == "COMPLETED"
    assert done["CompletionDate"] == done["CreationDate"]


def test_export_writes_once_under_concurrent_reads(make_emulator: Callable[..., PinpointEmulator]) -> None:
    clock = FakeClock()
    emu = make_emulator(step_seconds=1.0, clock=clock, piece_size=10)
    seeded = emu.seed(n_endpoints=35)
    writes: list[str] = []
    original_put = emu.store.sink.put

    def counting_put(bucket: str, key: str, body: bytes) -> None:
        writes.append(key)
        original_put(bucket, key, body)

    emu.store.sink.put = counting_put  # type: ignore[method-assign]
    job = create_job(emu.client("pinpoint"), seeded)
    clock.advance(60)
    clients = [emu.client("pinpoint") for _ in range(8)]
    statuses: list[str] = []
    threads = [
        threading.Thread(
            target=lambda c=c: statuses.append(get_job(c, seeded.application_id, job["Id"])["JobStatus"])
        )
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == ["COMPLETED"] * 8
    assert sorted(writes) == [
        f"exports/{seeded.application_id}/{job['Id']}/part-{i:05d}.gz" for i in range(4)
    ]


# --------------------------------------------------------------------------- exported files
def test_export_files_hold_every_endpoint_once(emu: PinpointEmulator) -> None:
    emu.piece_size = 1000
    seeded = emu.seed(n_endpoints=2500)
    client = emu.client("pinpoint")
    job = create_job(client, seeded, SegmentId=seeded.segment_id)
    done = get_job(client, seeded.application_id, job["Id"])
    assert done["JobStatus"] == "COMPLETED"
    assert (done["TotalPieces"], done["CompletedPieces"], done["FailedPieces"]) == (3, 3, 0)
    assert (done["TotalProcessed"], done["TotalFailures"]) == (2500, 0)
    assert "Failures" not in done

    files = read_export(emu, seeded.bucket, "exports/")
    folder = f"exports/{seeded.application_id}/{job['Id']}/"
    assert sorted(files) == [f"{folder}part-0000{i}.gz" for i in range(3)]
    lines = [line for key in sorted(files) for line in files[key]]
    assert [line["Id"] for line in lines] == list(seeded.endpoint_ids)
    for line in lines:
        assert set(line) <= EXPORT_FIELDS
        assert {"Id", "ChannelType", "Address", "ApplicationId", "CreationDate", "EffectiveDate"} <= set(line)
        assert line["ApplicationId"] == seeded.application_id
        assert all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in line["Attributes"].values()
        )
        assert set(line["User"]) == {"UserId", "UserAttributes"}
    assert {line["ChannelType"] for line in lines} == {"EMAIL", "SMS", "APNS", "GCM"}


def test_channel_segment_exports_only_its_endpoints(emu: PinpointEmulator) -> None:
    seeded = emu.seed(n_endpoints=40)
    client = emu.client("pinpoint")
    emails = client.create_segment(
        **_app(seeded),
        WriteSegmentRequest={
            "Name": "email",
            "Dimensions": {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": ["EMAIL"]}}},
        },
    )["SegmentResponse"]
    no_push = client.create_segment(
        **_app(seeded),
        WriteSegmentRequest={
            "Name": "no-push",
            "Dimensions": {
                "Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["APNS", "GCM"]}}
            },
        },
    )["SegmentResponse"]
    assert emails["Dimensions"]["Demographic"]["Channel"]["Values"] == ["EMAIL"]

    results = {}
    for segment in (emails, no_push):
        job = create_job(client, seeded, SegmentId=segment["Id"])
        done = get_job(client, seeded.application_id, job["Id"])
        files = read_export(emu, seeded.bucket, f"exports/{seeded.application_id}/{job['Id']}/")
        results[segment["Name"]] = [line["ChannelType"] for lines in files.values() for line in lines]
        assert done["TotalProcessed"] == len(results[segment["Name"]])
    assert results["email"] == ["EMAIL"] * 10
    assert sorted(set(results["no-push"])) == ["EMAIL", "SMS"] and len(results["no-push"]) == 20


def test_segment_groups_and_attribute_dimensions(emu: PinpointEmulator) -> None:
    seeded = emu.seed(n_endpoints=12)
    client = emu.client("pinpoint")

    def channel(value: str) -> dict[str, Any]:
        return {"Demographic": {"Channel": {"DimensionType": "INCLUSIVE", "Values": [value]}}}

    requests = {
        "email-or-sms": {
            "SegmentGroups": {
                "Include": "ALL",
                "Groups": [{"Type": "ANY", "Dimensions": [channel("EMAIL"), channel("SMS")]}],
            }
        },
        "pro": {"Dimensions": {"Attributes": {"Plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}},
        "not-gold": {
            "Dimensions": {"UserAttributes": {"Tier": {"AttributeType": "EXCLUSIVE", "Values": ["gold"]}}}
        },
    }
    exported = {}
    for name, request in requests.items():
        segment = client.create_segment(**_app(seeded), WriteSegmentRequest={"Name": name, **request})
        job = create_job(client, seeded, SegmentId=segment["SegmentResponse"]["Id"])
        get_job(client, seeded.application_id, job["Id"])
        files = read_export(emu, seeded.bucket, f"exports/{seeded.application_id}/{job['Id']}/")
        exported[name] = [line for lines in files.values() for line in lines]
    assert {line["ChannelType"] for line in exported["email-or-sms"]} == {"EMAIL", "SMS"}
    assert len(exported["email-or-sms"]) == 6
    assert [line["Attributes"]["Plan"] for line in exported["pro"]] == [["pro"]] * 4
    assert [line["User"]["UserAttributes"]["Tier"] for line in exported["not-gold"]] == [["silver"]] * 6


def test_unsupported_segment_dimension_is_rejected(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint", config=NO_RETRIES)
    with pytest.raises(client.exceptions.BadRequestException, match="does not evaluate"):
        client.create_segment(
            **_app(seeded),
            WriteSegmentRequest={
                "Dimensions": {"Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}}}
            },
        )


def test_empty_application_exports_one_empty_piece(emu: PinpointEmulator) -> None:
    seeded = emu.seed(n_endpoints=0)
    client = emu.client("pinpoint")
    job = create_job(client, seeded)
    done = get_job(client, seeded.application_id, job["Id"])
    assert (done["JobStatus"], done["TotalPieces"], done["CompletedPieces"], done["TotalProcessed"]) == (
        "COMPLETED",
        1,
        1,
        0,
    )
    files = read_export(emu, seeded.bucket, "exports/")
    assert list(files.values()) == [[]]


def test_job_exports_the_endpoints_present_at_creation(
    make_emulator: Callable[..., PinpointEmulator],
) -> None:
    clock = FakeClock()
    emu = make_emulator(step_seconds=1.0, clock=clock)
    seeded = emu.seed(n_endpoints=4)
    client = emu.client("pinpoint")
    job = create_job(client, seeded)
    client.update_endpoint(**_app(seeded), EndpointId="late", EndpointRequest={"ChannelType": "SMS"})
    clock.advance(10)
    assert get_job(client, seeded.application_id, job["Id"])["TotalProcessed"] == 4
    files = read_export(emu, seeded.bucket, "exports/")
    assert sorted(line["Id"] for lines in files.values() for line in lines) == sorted(seeded.endpoint_ids)


# --------------------------------------------------------------------------- failures
def test_missing_bucket_fails_the_job(make_emulator: Callable[..., PinpointEmulator]) -> None:
    clock = FakeClock()
    emu = make_emulator(step_seconds=1.0, clock=clock, piece_size=10)
    seeded = emu.seed(n_endpoints=25)
    client = emu.client("pinpoint")
    job = create_job(client, seeded, S3UrlPrefix="s3://no-such-bucket/exports")
    states = []
    for _ in range(6):
        states.append(get_job(client, seeded.application_id, job["Id"])["JobStatus"])
        clock.advance(1.0)
    assert states[-3:] == ["PROCESSING", "FAILING", "FAILED"]
    failed = get_job(client, seeded.application_id, job["Id"])
    assert failed["FailedPieces"] == failed["TotalPieces"] == 3
    assert failed["CompletedPieces"] == 0
    assert failed["TotalFailures"] == 25
    assert failed["Failures"] == ["Bucket no-such-bucket does not exist"]
    assert failed["CompletionDate"]


def test_missing_role_fails_the_job(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    role = "arn:aws:iam::123456789012:role/no-such-role"
    job = create_job(client, seeded, RoleArn=role)
    failed = get_job(client, seeded.application_id, job["Id"])
    assert failed["JobStatus"] == "FAILED"
    assert failed["FailedPieces"] == failed["TotalPieces"] == 1
    assert failed["TotalFailures"] == 25
    assert failed["Failures"] == [f"Role {role} does not exist"]
    assert read_export(emu, seeded.bucket, "exports/") == {}


def test_role_not_trusting_pinpoint_fails_the_job(emu: PinpointEmulator, seeded: SeedResult) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = emu.client("iam").create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    client = emu.client("pinpoint")
    job = create_job(client, seeded, RoleArn=role["Arn"])
    failed = get_job(client, seeded.application_id, job["Id"])
    assert failed["JobStatus"] == "FAILED"
    assert failed["Failures"] == [f"Role {role['Arn']} does not trust pinpoint.amazonaws.com"]


# --------------------------------------------------------------------------- scripted jobs
def test_set_job_status_forces_any_status_and_empty_definition(
    emu: PinpointEmulator, seeded: SeedResult
) -> None:
    client, capture = captured_client(emu)
    job = create_job(client, seeded)
    emu.set_job_status(seeded.application_id, job["Id"], "SOMETHING_NEW", Definition={})
    for _ in range(2):
        odd = get_job(client, seeded.application_id, job["Id"])
        assert odd["JobStatus"] == "SOMETHING_NEW"
        assert odd["Definition"] == {}
        assert "CompletionDate" not in odd
    listed = client.get_export_jobs(**_app(seeded))["ExportJobsResponse"]["Item"]
    assert [j["JobStatus"] for j in listed] == ["SOMETHING_NEW"]
    assert capture.last[3]["Item"][0]["Definition"] == {}

    emu.set_job_status(seeded.application_id, job["Id"], "FAILING", Failures=["disk on fire"])
    failing = get_job(client, seeded.application_id, job["Id"])
    assert (failing["JobStatus"], failing["Failures"]) == ("FAILING", ["disk on fire"])


def test_script_job_steps_through_statuses(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    emu.script_job(seeded.application_id, None, ["PROCESSING", {"JobStatus": "PENDING_JOB"}, "COMPLETED"])
    job = create_job(client, seeded)
    assert job["JobStatus"] == "CREATED"
    statuses = [get_job(client, seeded.application_id, job["Id"])["JobStatus"] for _ in range(4)]
    assert statuses == ["PROCESSING", "PENDING_JOB", "COMPLETED", "COMPLETED"]
    assert len(read_export(emu, seeded.bucket, f"exports/{seeded.application_id}/{job['Id']}/")) == 1
    other = create_job(client, seeded)
    assert get_job(client, seeded.application_id, other["Id"])["JobStatus"] == "COMPLETED", "script used once"


def test_script_can_remove_members(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    job = create_job(client, seeded)
    emu.script_job(seeded.application_id, job["Id"], [{"JobStatus": "COMPLETED", "TotalPieces": None}])
    done = get_job(client, seeded.application_id, job["Id"])
    assert done["JobStatus"] == "COMPLETED" and "TotalPieces" not in done
    emu.script_job(seeded.application_id, job["Id"], [{"Failures": ["late warning"]}])
    kept = get_job(client, seeded.application_id, job["Id"])
    assert (kept["JobStatus"], kept["Failures"]) == ("COMPLETED", ["late warning"])
    assert kept["CompletionDate"] and kept["TotalPieces"] == 1
    with pytest.raises(Exception, match="not found"):
        emu.set_job_status(seeded.application_id, "nope", "COMPLETED")


# --------------------------------------------------------------------------- faults and request log
def test_throttle_burst_without_retries(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint", config=NO_RETRIES)
    job = create_job(client, seeded)
    emu.faults.throttle_burst(3)
    for _ in range(3):
        with pytest.raises(client.exceptions.TooManyRequestsException) as caught:
            get_job(client, seeded.application_id, job["Id"])
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert caught.value.response["RequestID"]
    assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "COMPLETED"
    assert emu.faults.injected == emu.faults.throttles_injected == 3
    assert emu.calls("GetExportJob") == 4
    assert emu.request_log == [
        ("CreateExportJob", 202),
        ("GetExportJob", 429),
        ("GetExportJob", 429),
        ("GetExportJob", 429),
        ("GetExportJob", 200),
    ]


def test_throttle_burst_with_standard_retries(
    emu: PinpointEmulator, seeded: SeedResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)  # no backoff waits
    client = emu.client("pinpoint", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    job = create_job(client, seeded)
    emu.faults.throttle_burst(3)
    response = client.get_export_job(ApplicationId=seeded.application_id, JobId=job["Id"])
    assert response["ExportJobResponse"]["JobStatus"] == "COMPLETED"
    assert response["ResponseMetadata"]["RetryAttempts"] == 3
    assert emu.calls("GetExportJob") == 4


def test_rates_and_reset(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint", config=NO_RETRIES)
    emu.faults.error_rate = 1.0
    with pytest.raises(client.exceptions.InternalServerErrorException) as caught:
        client.get_app(**_app(seeded))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    emu.faults.throttle_rate = 1.0
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.get_app(**_app(seeded))
    assert emu.client("s3").head_bucket(Bucket=seeded.bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (emu.faults.injected, emu.faults.errors_injected, emu.faults.throttles_injected) == (2, 1, 1)
    emu.faults.reset()
    assert client.get_app(**_app(seeded))["ApplicationResponse"]["Id"] == seeded.application_id
    assert emu.faults.injected == 0


def test_fault_draws_are_reproducible_per_seed() -> None:
    def pattern(seed: int) -> list[int]:
        faults = FaultInjector(seed)
        faults.throttle_rate = 0.3
        faults.error_rate = 0.3
        return [fault.status if (fault := faults.draw()) else 200 for _ in range(200)]

    assert pattern(1) == pattern(1)
    assert pattern(1) != pattern(2)
    counts = {status: pattern(1).count(status) for status in (200, 429, 500)}
    assert 40 < counts[429] < 80 and 20 < counts[500] < 65 and counts[200] > 60


def test_latency_delays_pinpoint_requests(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint")
    client.get_app(**_app(seeded))
    emu.faults.latency = 0.2
    started = time.monotonic()
    client.get_app(**_app(seeded))
    assert time.monotonic() - started >= 0.2


def test_request_log_counts_operations(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint", config=NO_RETRIES)
    job = create_job(client, seeded)
    get_job(client, seeded.application_id, job["Id"])
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_campaigns(**_app(seeded))
    emu.client("s3").list_buckets()
    assert emu.calls("CreateExportJob") == 1
    assert emu.calls("GetExportJob") == 1
    assert emu.calls("UnknownOperation") == 1
    assert len(emu.request_log) == 3


# --------------------------------------------------------------------------- moto side and housekeeping
def test_s3_iam_and_sts_share_the_endpoint(emu: PinpointEmulator) -> None:
    s3 = emu.client("s3")
    s3.create_bucket(Bucket="shared-endpoint")
    s3.put_object(Bucket="shared-endpoint", Key="a/b.txt", Body=b"hello")
    assert s3.get_object(Bucket="shared-endpoint", Key="a/b.txt")["Body"].read() == b"hello"
    iam = emu.client("iam")
    arn = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))[
        "Role"
    ]["Arn"]
    assert iam.get_role(RoleName="r")["Role"]["Arn"] == arn
    assert emu.client("sts").get_caller_identity()["Account"] == "123456789012"
    assert emu.request_log == []


def test_seed_creates_bucket_role_app_and_segment(emu: PinpointEmulator) -> None:
    started = time.monotonic()
    seeded = emu.seed(n_endpoints=10_000, channel_types=("EMAIL",), application_name="big")
    assert time.monotonic() - started < 2.0
    assert len(seeded.endpoint_ids) == len(set(seeded.endpoint_ids)) == 10_000
    assert seeded.s3_base_prefix == "s3://pinpoint-exports/exports"
    assert seeded.role_arn == "arn:aws:iam::123456789012:role/pinpoint-export-role"
    role = emu.client("iam").get_role(RoleName="pinpoint-export-role")["Role"]
    assert "pinpoint.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    emu.client("s3").head_bucket(Bucket=seeded.bucket)
    client = emu.client("pinpoint")
    assert client.get_app(**_app(seeded))["ApplicationResponse"]["Name"] == "big"
    assert client.get_segment(**_app(seeded), SegmentId=seeded.segment_id)["SegmentResponse"]["Version"] == 1
    with pytest.raises(AttributeError):
        seeded.bucket = "other"  # type: ignore[misc]
    again = emu.seed(n_endpoints=1)
    assert again.role_arn == seeded.role_arn and again.application_id != seeded.application_id


def test_reset_wipes_everything(emu: PinpointEmulator, seeded: SeedResult) -> None:
    client = emu.client("pinpoint", config=NO_RETRIES)
    emu.faults.latency = 0.01
    emu.step_seconds = 5.0
    client.get_app(**_app(seeded))
    emu.reset()
    assert emu.request_log == [] and emu.faults.latency == 0 and emu.step_seconds == 0.0
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_app(**_app(seeded))
    assert emu.client("s3").list_buckets()["Buckets"] == []


def test_client_and_connection_settings(emu: PinpointEmulator) -> None:
    assert emu.endpoint_url == f"http://127.0.0.1:{emu.port}"
    conn = json.loads(emu.airflow_conn_uri)
    assert conn == {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": emu.endpoint_url, "region_name": emu.region_name},
    }
    client = emu.client("pinpoint", config=Config(retries={"total_max_attempts": 1}), region_name="eu-west-1")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == emu.endpoint_url


def test_context_manager_and_region() -> None:
    with PinpointEmulator(region_name="eu-central-1", seed=7) as emu:
        emu.reset()
        seeded = emu.seed(n_endpoints=3)
        client = emu.client("pinpoint")
        app = client.get_app(**_app(seeded))["ApplicationResponse"]
        assert app["Arn"] == f"arn:aws:mobiletargeting:eu-central-1:123456789012:apps/{seeded.application_id}"
        job = create_job(client, seeded)
        assert get_job(client, seeded.application_id, job["Id"])["JobStatus"] == "COMPLETED"
        assert emu.running
    assert not emu.running
    with pytest.raises(RuntimeError):
        _ = emu.endpoint_url


def test_plugin_fixture_points_the_environment_at_the_emulator(emu: PinpointEmulator) -> None:
    import os

    assert os.environ["AIRFLOW_CONN_AWS_DEFAULT"] == emu.airflow_conn_uri
    assert os.environ["AWS_DEFAULT_REGION"] == emu.region_name
    assert os.environ["AWS_ACCESS_KEY_ID"] == os.environ["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert "AWS_PROFILE" not in os.environ
