"""pytest fixtures for the local Pinpoint emulator.

Load them with ``-p airflow_provider_pinpoint.testing.pytest_plugin``.

Options:
    ``--pinpoint-emulator-port PORT`` (or the ini option ``pinpoint_emulator_port``): the port the
        session's emulator listens on; 0, the default, picks a free one. A port that cannot be
        listened on fails the fixture with OSError naming host and port.

Fixtures:
    pinpoint_emulator_session: One :class:`~airflow_provider_pinpoint.testing.PinpointEmulator`
        for the whole session (``step_seconds=0``, so export jobs finish on their first read),
        started on first use and stopped at the end of the session.
    pinpoint_emulator: Function-scoped. Resets that emulator (Pinpoint state, moto's S3/IAM state,
        faults, request log, step_seconds and piece_size), points the process at it through the
        environment and yields it:

        - ``AIRFLOW_CONN_AWS_DEFAULT``: the emulator's ``aws`` connection (test credentials,
          endpoint_url, region), so Airflow hooks using ``aws_default`` reach it;
        - ``AWS_DEFAULT_REGION`` / ``AWS_REGION``: the emulator's region;
        - ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``: ``testing``;
        - unset: ``AWS_PROFILE``, ``AWS_DEFAULT_PROFILE``, ``AWS_SESSION_TOKEN``,
          ``AWS_SECURITY_TOKEN`` and every ``AWS_ENDPOINT_URL*`` variable.

        Everything is restored after the test.

Importing this module only defines the fixtures: the emulator (and moto) load when a test asks
for one of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_pinpoint.testing.emulator import PinpointEmulator

_UNSET_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--pinpoint-emulator-port`` and the ini option ``pinpoint_emulator_port``."""
    help_text = "port of the session's Pinpoint emulator (0: a free one)"
    parser.addoption("--pinpoint-emulator-port", type=int, default=None, metavar="PORT", help=help_text)
    parser.addini("pinpoint_emulator_port", help_text, default="0")


@pytest.fixture(scope="session")
def pinpoint_emulator_session(pytestconfig: pytest.Config) -> Iterator[PinpointEmulator]:
    """One running emulator shared by the session (step_seconds=0); prefer ``pinpoint_emulator``."""
    from airflow_provider_pinpoint.testing.emulator import PinpointEmulator

    port = pytestconfig.getoption("pinpoint_emulator_port")
    if port is None:
        port = int(str(pytestconfig.getini("pinpoint_emulator_port")) or 0)
    with PinpointEmulator(step_seconds=0.0, port=port) as emulator:
        yield emulator


@pytest.fixture
def pinpoint_emulator(
    pinpoint_emulator_session: PinpointEmulator, monkeypatch: pytest.MonkeyPatch
) -> PinpointEmulator:
    """The session's emulator, freshly reset, with the AWS environment pointing at it for this test."""
    emulator = pinpoint_emulator_session
    emulator.reset()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", emulator.airflow_conn_uri)
    monkeypatch.setenv("AWS_DEFAULT_REGION", emulator.region_name)
    monkeypatch.setenv("AWS_REGION", emulator.region_name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in _UNSET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
    return emulator
