"""The one place where Airflow 2.10 and Airflow 3.x imports differ.

Each name is taken from its newest public location first and from its Airflow 2 location
otherwise. Nothing else in the package branches on the Airflow version.
"""

from __future__ import annotations

try:  # Airflow 3.2+: the exceptions a task raises moved together
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

try:  # Airflow 3.x
    from airflow.sdk import Asset, AssetAlias, PokeReturnValue
except ImportError:  # Airflow 2.10: assets were datasets
    from airflow.datasets import Dataset as Asset, DatasetAlias as AssetAlias  # type: ignore[no-redef]
    from airflow.sensors.base import PokeReturnValue  # type: ignore[no-redef]

try:  # newer Airflow 3.x
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.configuration import conf

from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "AssetAlias",
    "BaseTrigger",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
]
