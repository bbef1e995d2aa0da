"""What the operator and the sensor share: the asset event, the asset alias in outlets, the link."""

from __future__ import annotations

import pytest

from airflow_provider_pinpoint._compat import Asset, AssetAlias
from airflow_provider_pinpoint.operators.pinpoint import SegmentExportJobOperator
from tests.factories import FakeTaskInstance, execute, hook_clients, job, make_operator, make_sensor


class OutletEvents:
    """Records the asset events a task adds, as ``context["outlet_events"]`` takes them."""

    def __init__(self) -> None:
        self.added: list[tuple[object, str, dict]] = []

    def __getitem__(self, alias):
        return type(
            "Accessor", (), {"add": lambda _, asset, extra=None: self.added.append((alias, asset.uri, extra))}
        )()


@pytest.mark.parametrize(
    ("folder", "uri_folder"),
    [
        ("run-1", "run-1"),
        ("café", "caf%C3%A9"),
        ("a#b", "a%23b"),
        ("q?b=1&a=2", "q%3Fb=1&a=2"),
        ("50%", "50%25"),
    ],
)
def test_the_asset_event_names_the_export_even_for_prefixes_airflow_would_refuse_or_cut(
    pinpoint_emulator, folder, uri_folder
):
    seed = pinpoint_emulator.seed(n_endpoints=2)
    prefix = f"{seed.s3_base_prefix}/{folder}"
    events = OutletEvents()
    context = {"ti": FakeTaskInstance(), "outlet_events": events}
    assert execute(make_operator(seed, folder, asset_alias="exports"), context) == prefix
    [(alias, uri, extra)] = events.added
    assert (alias, uri) == (AssetAlias("exports"), f"{seed.s3_base_prefix}/{uri_folder}")
    assert extra == {
        "job_id": context["ti"].xcom["job_id"],
        "segment_id": seed.segment_id,
        "application_id": seed.application_id,
        "s3_url_prefix": prefix,
    }


def test_a_failed_export_adds_no_asset_event(pinpoint_emulator):
    from airflow_provider_pinpoint._compat import AirflowFailException

    seed = pinpoint_emulator.seed(n_endpoints=2)
    events = OutletEvents()
    task = make_operator(seed, asset_alias="exports", s3_url_prefix="s3://no-such-bucket/x")
    with pytest.raises(AirflowFailException):
        execute(task, {"ti": FakeTaskInstance(), "outlet_events": events})
    assert events.added == []


@pytest.mark.parametrize("outlets", [None, [Asset(uri="s3://b/other")], Asset(uri="s3://b/other")], ids=str)
def test_asset_alias_joins_the_outlets_once(outlets):
    kwargs = {} if outlets is None else {"outlets": outlets}
    task = make_operator(asset_alias="exports", **kwargs)
    others = [] if outlets is None else list(outlets) if isinstance(outlets, list) else [outlets]
    assert list(task.outlets) == [*others, AssetAlias("exports")]
    assert list(make_sensor(asset_alias="exports").outlets) == [AssetAlias("exports")]


def test_a_mapped_operator_declares_its_asset_alias_when_the_dag_is_parsed():
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.10
        from airflow import DAG

    with DAG("mapped_alias", schedule=None):
        mapped = SegmentExportJobOperator.partial(
            task_id="export",
            application_id="a",
            role_arn="r",
            s3_url_prefix="s3://b/p",
            asset_alias="exports",
        ).expand(segment_id=["s1", "s2"])
    assert list(mapped.partial_kwargs["outlets"]) == [AssetAlias("exports")]


@pytest.mark.parametrize("bad", ["", " exports", "{{ alias }}", "None", 7])
def test_a_bad_asset_alias_is_refused_when_the_dag_is_parsed(bad):
    with pytest.raises(ValueError, match="asset_alias"):
        make_operator(asset_alias=bad)


def test_a_link_that_cannot_be_stored_never_fails_a_finished_export(context, capsys, caplog):
    class Client:  # a stand-in without ``meta``: its region and partition cannot be read
        def create_export_job(self, **_):
            return {"ExportJobResponse": job("j1", "CREATED")}

        def get_export_job(self, **_):
            return {"ExportJobResponse": job("j1")}

    with hook_clients(read=Client(), create=Client()):
        assert make_operator().execute(context) == "s3://bucket/j1"
    assert context["ti"].xcom == {"job_id": "j1"}
    assert "Could not store the console link to s3://bucket/j1" in capsys.readouterr().out + caplog.text
