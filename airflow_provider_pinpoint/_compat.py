"""The one place where Airflow 2.10 and Airflow 3.x imports differ.

Each name is taken from its newest public location first and from its Airflow 2 location
otherwise. Nothing else in the package branches on the Airflow version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

try:  # Airflow 3.2+: the exceptions a task raises moved together
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )

try:  # Airflow 3.x
    from airflow.sdk import PokeReturnValue
except ImportError:  # Airflow 2.10
    from airflow.sensors.base import PokeReturnValue  # type: ignore[no-redef]

try:  # newer Airflow 3.x
    from airflow.sdk.configuration import conf
except ImportError:  # Airflow 2.10 - 3.1
    from airflow.configuration import conf  # type: ignore[no-redef]

from airflow.triggers.base import BaseTrigger, TriggerEvent


def first_reschedule_date(context: Any) -> datetime | None:
    """
    When a reschedule-mode sensor first poked in this try: its first task_reschedule row.

    :return: an aware datetime, or None before the first reschedule (or without a real task
        instance in the context).
    """
    ti = context["ti"]
    if hasattr(ti, "get_first_reschedule_date"):  # Airflow 3
        return ti.get_first_reschedule_date(context)  # type: ignore[no-any-return]
    task = getattr(ti, "task", None)
    if task is None:
        return None
    from airflow.sensors.base import _orig_start_date  # Airflow 2.10: what BaseSensorOperator uses

    return _orig_start_date(  # type: ignore[no-any-return]
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=ti.map_index,
        try_number=(ti.max_tries or 0) - (task.retries or 0) + 1,
    )


__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseTrigger",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
    "first_reschedule_date",
]
