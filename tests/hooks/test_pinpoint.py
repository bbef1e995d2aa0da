from __future__ import annotations

import gzip
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import given, settings, strategies as st
from moto import mock_aws

from airflow_provider_pinpoint.hooks.pinpoint import (
    JOB_FAILURE_STATES,
    JOB_INTERMEDIATE_STATES,
    JOB_SUCCESS_STATES,
    JOB_TERMINAL_STATES,
    MAX_PAGES,
    ExportJobNotFoundError,
    PinpointApiError,
    PinpointHook,
    PinpointTransientError,
    job_state,
)
from tests.factories import APP, ROLE, SEG, hook_clients, job, make_operator, make_sensor, page


@pytest.fixture
def hook():
    return PinpointHook(aws_conn_id=None, region_name="us-east-1")


@pytest.fixture
def stub(hook):
    with Stubber(hook.conn) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_state_sets_cover_the_documented_statuses():
    assert JOB_SUCCESS_STATES == {"COMPLETED"}
    assert JOB_FAILURE_STATES == {"FAILED"}
    assert JOB_TERMINAL_STATES == {"COMPLETED", "FAILED"}
    assert JOB_INTERMEDIATE_STATES == {
        "CREATED",
        "PREPARING_FOR_INITIALIZATION",
        "INITIALIZING",
        "PROCESSING",
        "PENDING_JOB",
        "COMPLETING",
        "FAILING",
    }


def test_pages_pass_token_back_and_page_size_as_string(hook, stub):
    base = {"ApplicationId": APP, "SegmentId": SEG, "PageSize": "2"}
    stub.add_response("get_segment_export_jobs", page([job("a"), job("b")], "t1"), base)
    stub.add_response("get_segment_export_jobs", page([], "t2"), {**base, "Token": "t1"})
    stub.add_response("get_segment_export_jobs", page([job("c")]), {**base, "Token": "t2"})
    assert [j["Id"] for j in hook.get_segment_export_jobs(APP, SEG, page_size=2)] == ["a", "b", "c"]


def test_without_page_size_no_page_size_is_sent(hook, stub):
    stub.add_response(
        "get_segment_export_jobs", page([job("a")], ""), {"ApplicationId": APP, "SegmentId": SEG}
    )
    assert [j["Id"] for j in hook.iter_segment_export_jobs(APP, SEG)] == ["a"]


def test_iteration_is_lazy_one_page_at_a_time(hook, stub):
    stub.add_response(
        "get_segment_export_jobs", page([job("a")], "t1"), {"ApplicationId": APP, "SegmentId": SEG}
    )
    jobs = hook.iter_segment_export_jobs(APP, SEG)
    assert next(jobs)["Id"] == "a"  # the second page has not been asked for: the stub holds none


def test_repeated_token_is_an_error_not_a_loop(hook, stub):
    stub.add_response("get_segment_export_jobs", page([job("a")], "same"))
    stub.add_response("get_segment_export_jobs", page([job("b")], "same"))
    with pytest.raises(ValueError, match="'same' a second time"):
        hook.get_segment_export_jobs(APP, SEG)


@pytest.mark.parametrize("bad", [0, -1, True, False, 2.0, "10", ""])
def test_bad_page_size_is_refused_before_any_call(hook, stub, bad):
    with pytest.raises(ValueError, match=rf"page_size must be an int >= 1.*{bad!r}"):
        hook.get_segment_export_jobs(APP, SEG, page_size=bad)


def test_newest_job_is_chosen_by_creation_date_across_unordered_pages(hook, stub):
    stub.add_response(
        "get_segment_export_jobs",
        page(
            [job("old", created="2026-01-01T00:00:00Z"), job("newest", created="2026-03-01T10:00:00.5Z")], "t"
        ),
    )
    stub.add_response("get_segment_export_jobs", page([job("middle", created="2026-02-01T00:00:00Z")]))
    assert hook.get_segment_export_job(APP, SEG)["Id"] == "newest"


def test_known_job_is_one_get_export_job_call(hook, stub):
    stub.add_response(
        "get_export_job", {"ExportJobResponse": job("j1")}, {"ApplicationId": APP, "JobId": "j1"}
    )
    assert hook.get_segment_export_job(APP, SEG, "j1")["Id"] == "j1"


def test_job_of_another_segment_is_not_returned(hook, stub):
    other = job("j1")
    other["Definition"]["SegmentId"] = "seg-other"
    stub.add_response("get_export_job", {"ExportJobResponse": other})
    with pytest.raises(ExportJobNotFoundError, match="seg-other.*not to segment 'seg-1'"):
        hook.get_segment_export_job(APP, SEG, "j1")


def test_segment_without_jobs_names_application_segment_and_job(hook, stub):
    stub.add_response("get_segment_export_jobs", page([]))
    with pytest.raises(ExportJobNotFoundError, match=r"'seg-1'.*'app-1'.*job_id=None"):
        hook.get_segment_export_job(APP, SEG)


def test_missing_job_is_a_permanent_error_with_request_id_and_end_of_support(hook, stub):
    stub.add_client_error(
        "get_export_job",
        service_error_code="NotFoundException",
        service_message="Resource not found",
        http_status_code=404,
        response_meta={"RequestId": "req-123"},
    )
    with pytest.raises(PinpointApiError) as raised:
        hook.get_export_job(APP, "missing")
    message = str(raised.value)
    for part in (
        "GetExportJob",
        "'app-1'",
        "'missing'",
        "NotFoundException",
        "Resource not found",
        "req-123",
    ):
        assert part in message
    assert "2026-10-30" in message


def test_throttling_left_after_retries_is_transient(hook, stub):
    stub.add_client_error(
        "get_export_job", service_error_code="TooManyRequestsException", http_status_code=429
    )
    with pytest.raises(
        PinpointTransientError, match="GetExportJob .* did not answer .*TooManyRequestsException"
    ):
        hook.get_export_job(APP, "j1")


CREATE = {
    "ApplicationId": APP,
    "ExportJobRequest": {"RoleArn": ROLE, "S3UrlPrefix": "s3://bucket/run-1", "SegmentId": SEG},
}


@pytest.fixture
def create_stub(hook, monkeypatch):
    """CreateExportJob goes through the client that never re-sends; no real pauses between tries."""
    monkeypatch.setattr("airflow_provider_pinpoint.hooks.pinpoint.CREATE_RETRY_DELAY", 0)
    with Stubber(hook.conn_without_retries) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_create_export_job_request(hook, create_stub):
    expected = {**CREATE, "ExportJobRequest": {**CREATE["ExportJobRequest"], "SegmentVersion": 3}}
    create_stub.add_response("create_export_job", {"ExportJobResponse": job("new", "CREATED")}, expected)
    created = hook.create_segment_export_job(APP, SEG, ROLE, "s3://bucket/run-1", segment_version=3)
    assert created["Id"] == "new"


def test_create_is_never_resent_by_botocore(hook):
    assert hook.conn_without_retries.meta.config.retries["total_max_attempts"] == 1


def test_throttled_create_is_sent_again(hook, create_stub):
    create_stub.add_client_error("create_export_job", "TooManyRequestsException", http_status_code=429)
    create_stub.add_response("create_export_job", {"ExportJobResponse": job("new", "CREATED")}, CREATE)
    assert hook.create_segment_export_job(APP, SEG, ROLE, "s3://bucket/run-1")["Id"] == "new"


@pytest.mark.parametrize("code, status", [("InternalServerErrorException", 500), ("ServiceUnavailable", 503)])
def test_create_that_may_have_run_is_not_sent_again(hook, create_stub, code, status):
    create_stub.add_client_error("create_export_job", code, http_status_code=status)
    with pytest.raises(PinpointTransientError, match="may have started the export anyway.*retry the task"):
        hook.create_segment_export_job(APP, SEG, ROLE, "s3://bucket/run-1")
    # the Stubber holds no second answer: a re-send would have failed the test with a StubResponseError


def test_create_throttled_on_every_try_is_transient(hook, create_stub):
    from airflow_provider_pinpoint.hooks.pinpoint import CREATE_ATTEMPTS

    for _ in range(CREATE_ATTEMPTS):
        create_stub.add_client_error("create_export_job", "TooManyRequestsException", http_status_code=429)
    with pytest.raises(
        PinpointTransientError, match="CreateExportJob.*Throttled on all 4 tries; no export job was started"
    ):
        hook.create_segment_export_job(APP, SEG, ROLE, "s3://bucket/run-1")


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"application_id": " "}, "application_id"),
        ({"segment_id": ""}, "segment_id"),
        ({"role_arn": "my-role"}, "role_arn"),
        ({"s3_url_prefix": "bucket/prefix"}, "s3_url_prefix"),
        ({"s3_url_prefix": "https://bucket.s3.amazonaws.com/x"}, "s3_url_prefix"),
        ({"segment_version": 0}, "segment_version"),
    ],
)
def test_create_refuses_bad_input_before_any_call(hook, create_stub, kwargs, names):
    args = {
        "application_id": APP,
        "segment_id": SEG,
        "role_arn": ROLE,
        "s3_url_prefix": "s3://b-1/p",
        **kwargs,
    }
    version = args.pop("segment_version", None)
    with pytest.raises(ValueError, match=names) as raised:
        hook.create_segment_export_job(**args, segment_version=version)
    assert repr(next(iter(kwargs.values()))) in str(raised.value)


def test_client_defaults_to_standard_retries(hook):
    assert hook.conn.meta.config.retries["mode"] == "standard"


def test_client_keeps_configured_retries():
    configured = PinpointHook(
        aws_conn_id=None, region_name="us-east-1", config={"retries": {"mode": "adaptive"}}
    )
    assert configured.conn.meta.config.retries["mode"] == "adaptive"


# ------------------------------------------------------------------ the job-state rule
@pytest.mark.parametrize("status", sorted(JOB_INTERMEDIATE_STATES - {"FAILING"}))
def test_rule_running_states(status):
    state = job_state(job("j", status, CompletedPieces=1, TotalPieces=4))
    assert (state.outcome, state.unknown_status) == ("running", False)
    assert "1/4 pieces" in state.message


def test_rule_completed_and_failed():
    assert job_state(job("j", "COMPLETED")).outcome == "completed"
    failed = job_state(
        job(
            "j",
            "FAILED",
            TotalFailures=7,
            FailedPieces=2,
            TotalPieces=5,
            Failures=[f"f{i}" for i in range(8)],
        )
    )
    assert failed.outcome == "failed"
    for part in ("j", "FAILED", "TotalFailures=7", "FailedPieces=2/5", "f0", "f4", "3 more"):
        assert part in failed.message
    assert "f5" not in failed.message


def test_rule_failing_waits_unless_asked():
    assert job_state(job("j", "FAILING")).outcome == "running"
    assert job_state(job("j", "FAILING"), fail_on_failing=True).outcome == "failed"


def test_rule_unknown_status_keeps_waiting_and_says_so():
    state = job_state(job("j", "SOMETHING_NEW"))
    assert (state.outcome, state.unknown_status) == ("running", True)
    assert "not a documented JobStatus" in state.message


# ------------------------------------------------------------------ reading an export back
def put_export(s3, bucket: str, key: str, records: list[dict]) -> None:
    body = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    s3.put_object(Bucket=bucket, Key=key, Body=body)


@mock_aws
def test_export_reader_lists_recursively_and_streams_records(hook):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    put_export(s3, "exports", "run-1/app/job/part-0.gz", [{"Id": "e1", "ChannelType": "EMAIL"}])
    put_export(s3, "exports", "run-1/part-1.gz", [{"Id": "e2", "ChannelType": "SMS"}, {"Id": "e3"}])
    s3.put_object(Bucket="exports", Key="run-1/manifest.json", Body=b"{}")
    put_export(s3, "exports", "run-10/part-0.gz", [{"Id": "other-run"}])
    assert hook.list_export_files("s3://exports/run-1") == [
        "s3://exports/run-1/app/job/part-0.gz",
        "s3://exports/run-1/part-1.gz",
    ]
    assert sorted(r["Id"] for r in hook.iter_exported_endpoints("s3://exports/run-1/")) == ["e1", "e2", "e3"]


@mock_aws
def test_export_reader_names_file_and_line_of_a_bad_record_without_its_content(hook):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    s3.put_object(
        Bucket="exports", Key="x/part.gz", Body=gzip.compress(b'{"Id": "ok"}\nsecret@example.com\n')
    )
    with pytest.raises(ValueError, match=r"s3://exports/x/part.gz line 2") as raised:
        list(hook.iter_exported_endpoints("s3://exports/x"))
    assert "secret" not in str(raised.value)


def test_export_reader_refuses_a_bad_prefix(hook):
    with pytest.raises(ValueError, match="s3_url_prefix.*'exports/x'"):
        hook.list_export_files("exports/x")


def test_client_error_kinds():
    from airflow_provider_pinpoint.hooks.pinpoint import is_transient

    def err(code, status):
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    assert is_transient(err("TooManyRequestsException", 429))
    assert is_transient(err("InternalServerErrorException", 500))
    assert is_transient(err("Whatever", 503))
    assert not is_transient(err("BadRequestException", 400))
    assert not is_transient(err("404", 404))


@pytest.mark.parametrize(
    ("check", "value"),
    [
        ("s3_url_prefix", "s3://bkt/p\n"),
        ("role_arn", "arn:aws:iam::123456789012:role/r\n"),
        ("application_id", " app"),
        ("application_id", "null"),
        ("application_id", "NONE"),
        ("application_id", "{{ params.app }}"),
    ],
)
def test_validation_refuses_trailing_newlines_spaces_and_rendered_nothing(hook, check, value):
    request = {"application_id": APP, "segment_id": SEG, "role_arn": ROLE, "s3_url_prefix": "s3://bkt/p"}
    with Stubber(hook.conn_without_retries), pytest.raises(ValueError, match=check):  # no call stubbed
        hook.create_segment_export_job(**{**request, check: value})


def test_unreadable_creation_dates_count_as_oldest(hook, stub):
    stub.add_response(
        "get_segment_export_jobs",
        page(
            [
                job("unreadable", created="Sat, 01 Jun 2024 00:00:00 GMT"),
                job("readable", created="2024-01-01T00:00:00z"),
            ]
        ),
    )
    assert hook.get_segment_export_job(APP, SEG)["Id"] == "readable"


@mock_aws
def test_export_reader_refuses_broken_files_naming_only_the_file(hook):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="cut/part.GZ", Body=gzip.compress(b'{"Id": "a"}\n' * 50)[:-20])
    s3.put_object(Bucket="exports", Key="plain/part.gz", Body=b'{"Id": "not gzip"}\n')
    s3.put_object(Bucket="exports", Key="list/part.gz", Body=gzip.compress(b'["a@example.com"]\n'))
    good = gzip.compress(b'{"Id": "a"}\n')
    s3.put_object(Bucket="exports", Key="deflate/part.gz", Body=good[:10] + b"\x07" + good[11:])
    assert hook.list_export_files("s3://exports/cut") == ["s3://exports/cut/part.GZ"]
    with pytest.raises(ValueError, match=r"s3://exports/cut/part.GZ is not a complete gzip file"):
        list(hook.iter_exported_endpoints("s3://exports/cut"))
    with pytest.raises(ValueError, match=r"s3://exports/plain/part.gz is not a complete gzip file"):
        list(hook.iter_exported_endpoints("s3://exports/plain"))
    with pytest.raises(
        ValueError, match=r"s3://exports/list/part.gz line 1 is not a JSON endpoint record"
    ) as raised:
        list(hook.iter_exported_endpoints("s3://exports/list"))
    assert "example.com" not in str(raised.value)


@mock_aws
def test_an_empty_export_file_is_an_error_not_a_short_count(hook):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    put_export(s3, "exports", "run/part-0.gz", [{"Id": "a"}, {"Id": "b"}])
    s3.put_object(Bucket="exports", Key="run/part-1.gz", Body=b"")
    with pytest.raises(ValueError, match=r"s3://exports/run/part-1.gz is empty \(0 bytes\)"):
        list(hook.iter_exported_endpoints("s3://exports/run"))
    with pytest.raises(ValueError, match=r"s3://exports/run/part-1.gz is empty"):
        list(hook.iter_export_file("s3://exports/run/part-1.gz"))


@mock_aws
def test_a_line_nested_too_deep_to_read_names_the_file_not_its_content(hook):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    s3.put_object(
        Bucket="exports", Key="deep/part.gz", Body=gzip.compress(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    )
    with pytest.raises(ValueError, match=r"s3://exports/deep/part.gz line 1 is not a JSON endpoint record"):
        list(hook.iter_export_file("s3://exports/deep/part.gz"))


@mock_aws
def test_a_prefix_without_export_files_is_listed_empty_with_a_warning(hook, capsys, caplog):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="exports")
    assert hook.list_export_files("s3://exports/not-there") == []
    assert "No export file (.gz) under s3://exports/not-there" in capsys.readouterr().out + caplog.text


@mock_aws
def test_one_export_file_is_read_on_its_own(hook):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports")
    put_export(s3, "exports", "run/part-0.gz", [{"Id": "a"}, {"Id": "b"}])
    put_export(s3, "exports", "run/part-1.gz", [{"Id": "c"}])
    files = hook.list_export_files("s3://exports/run")
    assert [[r["Id"] for r in hook.iter_export_file(url)] for url in files] == [["a", "b"], ["c"]]
    with pytest.raises(ValueError, match="s3_url.*'exports/run/part-0.gz'"):
        hook.iter_export_file("exports/run/part-0.gz")  # checked when called, before any call


def test_listing_arguments_are_checked_when_called_not_when_iterated(hook, stub):
    with pytest.raises(ValueError, match="page_size"):
        hook.iter_segment_export_jobs(APP, SEG, page_size=0)  # no next() needed


# ------------------------------------------------------------------ pagination, property-based
class FakePages:
    """A pinpoint client stand-in serving scripted pages by token, recording what was asked."""

    def __init__(self, pages: list[tuple[list[str], str | None]]) -> None:
        self.by_token = {None: 0}
        for index, (_, token) in enumerate(pages[:-1]):
            self.by_token.setdefault(token, index + 1)
        self.pages = pages
        self.asked: list[dict] = []

    def get_segment_export_jobs(self, **params):
        self.asked.append(params)
        items, token = self.pages[self.by_token[params.get("Token")]]
        body = {"Item": [job(i) for i in items]}
        if token is not None:
            body["NextToken"] = token
        return {"ExportJobsResponse": body}


page_items = st.lists(st.text("abcdef0123456789", min_size=8, max_size=8), max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.lists(page_items, min_size=1, max_size=12), st.sampled_from([None, ""]), st.integers(1, 50))
def test_every_job_exactly_once_over_any_pages(pages, end_token, page_size):
    script = [(items, f"tok-{i}") for i, items in enumerate(pages[:-1])] + [(pages[-1], end_token)]
    client = FakePages(script)
    with hook_clients(read=client):
        jobs = list(
            PinpointHook(aws_conn_id=None, region_name="us-east-1").iter_segment_export_jobs(
                APP, SEG, page_size=page_size
            )
        )
    assert [j["Id"] for j in jobs] == [i for items in pages for i in items]
    assert len(client.asked) == len(pages)  # no page skipped, none asked twice
    assert all(a["PageSize"] == str(page_size) for a in client.asked)
    assert [a.get("Token") for a in client.asked] == [None] + [f"tok-{i}" for i in range(len(pages) - 1)]


@settings(max_examples=100, deadline=None)
@given(st.lists(page_items, min_size=2, max_size=10), st.data())
def test_token_cycles_end_in_a_clear_error(pages, data):
    back_to = data.draw(st.integers(0, len(pages) - 2))
    script = [(items, f"tok-{i}") for i, items in enumerate(pages[:-1])] + [(pages[-1], f"tok-{back_to}")]
    client = FakePages(script)
    with (
        hook_clients(read=client),
        pytest.raises(ValueError, match=rf"NextToken 'tok-{back_to}' a second time"),
    ):
        list(PinpointHook(aws_conn_id=None, region_name="us-east-1").iter_segment_export_jobs(APP, SEG))
    assert len(client.asked) == len(pages)


def test_a_listing_past_the_page_cap_is_an_error():
    class Endless:
        calls = 0

        def get_segment_export_jobs(self, **params):
            Endless.calls += 1
            return {"ExportJobsResponse": {"Item": [], "NextToken": f"t{Endless.calls}"}}

    with hook_clients(read=Endless()), pytest.raises(ValueError, match=f"more than {MAX_PAGES} pages"):
        list(PinpointHook(aws_conn_id=None, region_name="us-east-1").iter_segment_export_jobs(APP, SEG))
    assert Endless.calls == MAX_PAGES


# ------------------------------------------------------------------ bad input, refused before any call
BAD_INPUT = [
    ("application_id", "  "),
    ("segment_id", ""),
    ("job_id", ""),
    ("role_arn", "arn:aws:iam::123456789012:user/bob"),
    ("s3_url_prefix", "s3://"),
    ("segment_version", 0),
    ("page_size", True),
]


@pytest.mark.parametrize(("name", "value"), BAD_INPUT)
def test_bad_input_names_parameter_and_value_before_any_call(context, name, value):
    calls = []

    class Recording:
        def __getattr__(self, attr):
            calls.append(attr)
            raise AssertionError(f"API called: {attr}")

    if name == "page_size":
        hook = PinpointHook(aws_conn_id=None, region_name="us-east-1")
        target = lambda: list(hook.iter_segment_export_jobs(APP, SEG, page_size=value))  # noqa: E731
    elif name in {"role_arn", "s3_url_prefix", "segment_version"}:
        op = make_operator(**{name: value})
        target = lambda: op.execute(context)  # noqa: E731
    else:
        sensor = make_sensor(**{name: value})
        target = lambda: sensor.poke(context)  # noqa: E731
    with hook_clients(read=Recording(), create=Recording()), pytest.raises(ValueError) as raised:
        target()
    assert name in str(raised.value) and repr(value) in str(raised.value)
    assert calls == []


def test_a_missing_job_names_application_segment_and_job(pinpoint_emulator):
    seed = pinpoint_emulator.seed(n_endpoints=1)
    with pytest.raises(PinpointApiError) as raised:
        PinpointHook().get_segment_export_job(seed.application_id, seed.segment_id, "no-such-job")
    for part in (seed.application_id, seed.segment_id, "no-such-job", "NotFoundException"):
        assert part in str(raised.value)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate", "permanent"),
        ("[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found", "permanent"),  # a wrong CA bundle
        ("[Errno 2] No such file or directory", "permanent"),  # a CA bundle path that is not there
        ("EOF occurred in violation of protocol", "transient"),  # a handshake cut short
    ],
)
def test_tls_errors_no_retry_can_fix_are_permanent(error, kind):
    from botocore.exceptions import SSLError

    from airflow_provider_pinpoint.exceptions import classify

    assert classify(SSLError(endpoint_url="https://pinpoint.example", error=error)) == kind
