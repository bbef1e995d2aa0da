"""The one place where Airflow 2.10 and Airflow 3.x imports differ.

Each name is taken from its newest public location first and from its Airflow 2 location
otherwise. Nothing else in the package branches on the Airflow version.
"""

from __future__ import annotations

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef,attr-defined]

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef,attr-defined]

try:  # Airflow 3.2+
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef,attr-defined]

try:  # Airflow 3.x
    from airflow.sdk import PokeReturnValue
except ImportError:  # Airflow 2.10
    from airflow.sensors.base import PokeReturnValue  # type: ignore[no-redef]

try:  # newer Airflow 3.x
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.configuration import conf  # type: ignore[no-redef]

from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseTrigger",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
]
