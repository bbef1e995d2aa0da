"""SegmentExportJobTrigger: waits for a Pinpoint export job off the worker, in the triggerer.

The triggerer imports this module on its event loop, so it imports nothing heavy: the hook (boto3,
the Amazon provider) is loaded by a trigger's first poll, on a poll thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import importlib
import json
import os
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from airflow_provider_pinpoint._compat import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

#: Threads that run the triggers' polls in one triggerer process: enough to keep N / waiter_delay
#: polls a second going when each waits on a network round trip. Set
#: ``AIRFLOW_PINPOINT_TRIGGER_THREADS`` in the triggerer's environment to change it.
POLL_THREADS = int(os.environ.get("AIRFLOW_PINPOINT_TRIGGER_THREADS", "64"))
#: Seconds after which a trigger reads its connection again and a shared client is rebuilt.
CLIENT_MAX_AGE = 900.0

_HOOK_SETTINGS = ("aws_conn_id", "region_name", "verify", "botocore_config")
T = TypeVar("T")


@dataclass(frozen=True)
class SharedClient:
    """A Pinpoint hook (and its boto3 client) shared by the triggers of one connection."""

    hook: PinpointHook
    built_at: float


class SharedClients:
    """
    The Pinpoint clients of a triggerer process, one per connection setting and content.

    The key is (aws_conn_id, region_name, verify, botocore_config, a digest of the connection's
    conn_type, host, login, password, port and extra), so two connection ids with the same
    content never share a client. A client is built once per key, in a poll thread (never on
    the event loop); concurrent first polls wait for that one build. A trigger whose client is
    older than ``max_age`` seconds reads its connection again, and a client that old is rebuilt
    once, so an edited connection reaches running triggers within ``max_age``.

    :param clock: seconds, monotonic (a setting for tests).
    :param max_age: seconds a client is used before it is rebuilt.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_age: float = CLIENT_MAX_AGE) -> None:
        self.clock = clock
        self.max_age = max_age
        self.builds = 0
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], SharedClient] = {}
        self._building: dict[tuple[Any, ...], threading.Lock] = {}

    def __len__(self) -> int:
        """How many clients are held."""
        return len(self._clients)

    def fresh(self, client: SharedClient | None) -> TypeGuard[SharedClient]:
        """Whether a trigger may go on using ``client`` without reading its connection again."""
        return client is not None and self.clock() - client.built_at < self.max_age

    def get(
        self,
        settings: dict[str, Any],
        current: SharedClient | None = None,
        read: ConnectionRead | None = None,
    ) -> SharedClient:
        """
        The shared client for these hook settings (blocking: call it from a poll thread).

        :param settings: ``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``.
        :param current: the client the trigger used so far; returned while younger than max_age.
        :param read: the connection as the trigger read it (see :func:`_read_connection`); None
            reads it here. A client built now is built from this reading, not from another lookup.
        """
        if current is not None and self.fresh(current):
            return current
        if read is None:
            read = ConnectionRead.now(settings["aws_conn_id"])
        digest = read.digest
        if current is not None and read.error is not None:
            return current  # keep the client that works; the connection is read again next poll
        key = (*(json.dumps(settings[name], sort_keys=True) for name in _HOOK_SETTINGS), digest)
        with self._lock:
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:
            client = self._clients.get(key)
            if client is None or self.clock() - client.built_at >= self.max_age:
                from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

                hook = PinpointHook(
                    aws_conn_id=settings["aws_conn_id"],
                    region_name=settings["region_name"],
                    verify=settings["verify"],
                    config=settings["botocore_config"],
                    max_pool_connections=POLL_THREADS,
                )
                hook.get_connection = read.get_connection  # type: ignore[method-assign]
                hook.conn  # noqa: B018 - build the client now, in this thread
                client = SharedClient(hook, self.clock())
                with self._lock:  # a connection whose content changed leaves its old client behind
                    for old in [k for k in self._clients if k[:-1] == key[:-1] and k != key]:
                        del self._clients[old]
                        self._building.pop(old, None)
                    self._clients[key] = client
                    self.builds += 1
            return client


@dataclass(frozen=True)
class ConnectionRead:
    """One reading of a trigger's connection: the connection, or the error its lookup raised."""

    conn_id: str | None
    conn: Any = None
    error: Exception | None = None

    @classmethod
    def now(cls, conn_id: str | None) -> ConnectionRead:
        """Read the connection now (blocking); nothing is read without a connection id."""
        if conn_id is None:
            return cls(None)
        from airflow_provider_pinpoint.hooks.pinpoint import PinpointHook

        try:
            return cls(conn_id, conn=PinpointHook.get_connection(conn_id))
        except Exception as error:  # not defined: the hook falls back to boto3's chain and says so
            return cls(conn_id, error=error)

    @property
    def digest(self) -> str | None:
        """A digest of the connection's content (None without a connection id)."""
        if self.conn_id is None:
            return None
        if self.error is not None:
            return f"unreadable: {type(self.error).__name__}"
        conn = self.conn
        content = [conn.conn_type, conn.host, conn.login, conn.password, conn.port, conn.extra]
        return hashlib.sha256(json.dumps(content, default=str).encode()).hexdigest()

    def get_connection(self, conn_id: str) -> Any:
        """The hook's lookup, answered from this reading."""
        if self.error is not None:
            raise self.error
        return self.conn


#: The clients every SegmentExportJobTrigger of this process shares.
shared_clients = SharedClients()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


async def _in_poll_thread(func: Callable[..., T], *args: Any, reads_connection: bool = False) -> T:
    """Run blocking work on the provider's poll threads, never on the event loop or its executor.

    Work that reads the connection goes through asgiref, so the lookup reaches Airflow's
    triggerer the way synchronous code called from a trigger should; polls go straight to the
    pool, which costs the event loop less.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=POLL_THREADS, thread_name_prefix="pinpoint-poll")
    if reads_connection:
        from asgiref.sync import sync_to_async

        return await sync_to_async(func, thread_sensitive=False, executor=_pool)(*args)
    context = contextvars.copy_context()  # the trigger's log context (its trigger_id) goes along
    return await asyncio.get_running_loop().run_in_executor(_pool, context.run, func, *args)


async def _read_connection(conn_id: str | None) -> ConnectionRead:
    """Read a trigger's connection the way this triggerer answers lookups.

    The triggerer of Airflow 3.0.0 to 3.0.2 reads the supervisor's answers from standard input on
    its event loop (its comms object has ``send_request``, later ones ``send``), so a lookup made
    from another thread never receives its answer; there the lookup runs on the event loop's own
    thread, once no other request is under way (it blocks the loop for one round trip to the
    supervisor). Everywhere else it runs on a poll thread through asgiref.
    """
    if conn_id is None:
        return ConnectionRead(None)
    comms = getattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS", None)
    if comms is None or not hasattr(comms, "send_request"):
        return await _in_poll_thread(ConnectionRead.now, conn_id, reads_connection=True)
    async with comms.lock:  # wait until the runner's own request, if any, has its answer
        pass
    return ConnectionRead.now(conn_id)


@dataclass(kw_only=True, eq=False, repr=False)
class SegmentExportJobTrigger(BaseTrigger):
    """
    Poll an export job with GetExportJob until its JobStatus is terminal, then fire one event.

    Without a ``job_id`` it first waits for the segment to have an export job (GetSegmentExportJobs
    at every poll; no job yet counts as running), then follows the newest one with GetExportJob.

    It polls with the same core as the sensor and the operator: every poll counts as an attempt;
    a throttled poll is followed by the next after at least 1 second; after 900 seconds of nothing
    but unreachable polls the wait ends. The first poll comes after a random pause of up to
    ``waiter_delay`` seconds, so triggers that start together do not all ask at once.

    Triggers in one triggerer process share their boto3 clients (see :class:`SharedClients`) and
    run their polls on the provider's own threads (``POLL_THREADS``), so a thousand waits cost
    one client and never block the event loop; aiobotocore is not needed.

    :param application_id: the Pinpoint ApplicationId.
    :param job_id: the export job's Id, or None to follow the segment's newest export job.
    :param s3_url_prefix: the prefix the job was asked to write to; reported when Pinpoint returns
        an empty Definition. When None, the prefix is looked up in the segment's job list
        (needs ``segment_id``).
    :param waiter_delay: seconds between two polls.
    :param waiter_max_attempts: polls before giving up with a ``timeout`` event.
    :param fail_on_failing: treat JobStatus FAILING as failed instead of waiting for FAILED.
    :param segment_id: the SegmentId; needed when ``job_id`` is None.
    :param aws_conn_id: the Airflow connection; None uses boto3's default credential chain.
    :param region_name: the AWS Region, or None for the connection's.
    :param verify: whether (or with which CA bundle) to verify SSL certificates.
    :param botocore_config: botocore client configuration as a dict.

    Events (one per run), all JSON-native:
    ``{"status": "success", "job_id", "s3_url_prefix", "message"}``;
    ``{"status": "error", "reason": "failed" | "timeout" | "api_error" | "unreachable", "job_id",
    "message"}``.
    """

    application_id: str
    job_id: str | None
    s3_url_prefix: str | None = None
    waiter_delay: float = 30
    waiter_max_attempts: int = 480
    fail_on_failing: bool = False
    segment_id: str | None = None
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    verify: bool | str | None = None
    botocore_config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    @classmethod
    def for_task(cls, task: Any, **kwargs: Any) -> SegmentExportJobTrigger:
        """The trigger for an operator's or sensor's wait, with every hook setting the task has."""
        settings = {name: getattr(task, name) for name in _HOOK_SETTINGS}
        return cls(
            application_id=task.application_id, fail_on_failing=task.fail_on_failing, **settings, **kwargs
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the keyword arguments that re-create this trigger."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self)}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a terminal JobStatus, the attempts run out, or an error no poll can fix."""
        # The polling core and the hook (boto3, the Amazon provider) load on a poll thread: an
        # import on the event loop would block every trigger of the triggerer for a second.
        await _in_poll_thread(importlib.import_module, "airflow_provider_pinpoint._waiting")
        from airflow_provider_pinpoint._waiting import ExportJobWait, Outcome

        wait = ExportJobWait(
            application_id=self.application_id,
            job_id=self.job_id,
            segment_id=self.segment_id,
            s3_url_prefix=self.s3_url_prefix,
            waiter_delay=self.waiter_delay,
            max_attempts=self.waiter_max_attempts,
            fail_on_failing=self.fail_on_failing,
            log=self.log,
        )
        settings = {name: getattr(self, name) for name in _HOOK_SETTINGS}
        client: SharedClient | None = None
        # Triggers that start together (a triggerer restarting with a thousand waits) spread
        # their first polls over one waiter_delay instead of asking all at once.
        await asyncio.sleep(random.uniform(0, float(self.waiter_delay)))
        while True:
            try:
                if not shared_clients.fresh(client):
                    read = await _read_connection(self.aws_conn_id)
                    client = await _in_poll_thread(shared_clients.get, settings, client, read)
                outcome = await _in_poll_thread(wait.poll, client.hook)
            except Exception as error:  # permanent API errors, an unusable connection or setting
                outcome = Outcome("api_error", wait.current_job_id, str(error))
            if outcome is not None:
                yield TriggerEvent(outcome.to_event())  # type: ignore[no-untyped-call]
                return
            await asyncio.sleep(wait.next_delay)
