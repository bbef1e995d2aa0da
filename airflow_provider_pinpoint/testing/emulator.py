"""A local Amazon Pinpoint for tests and demos, served next to moto's S3/IAM/STS on one endpoint.

Requests signed for the service ``mobiletargeting`` (Pinpoint's signing name) are answered by this
emulator; every other request goes to moto's server app in the same process. So a single
``endpoint_url`` serves an unchanged boto3 ``pinpoint`` client as well as ``s3`` and ``iam`` clients.

Export jobs write their pieces to moto's S3 as gzip-compressed newline-delimited JSON, under
``<S3UrlPrefix>/<application-id>/<job-id>/part-NNNNN.gz``. Clients must list the prefix recursively:
Pinpoint's real key names are undocumented.

Moto keeps its S3/IAM state per process, so emulators in one process share it, and
:meth:`PinpointEmulator.reset` wipes it for all of them (and for ``moto.mock_aws`` users).

Example::

    with PinpointEmulator(step_seconds=1.0) as emu:
        seeded = emu.seed(n_endpoints=100)
        pinpoint = emu.client("pinpoint")
        job = pinpoint.create_export_job(
            ApplicationId=seeded.application_id,
            ExportJobRequest={"RoleArn": seeded.role_arn, "S3UrlPrefix": seeded.s3_base_prefix},
        )["ExportJobResponse"]
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._faults import FaultInjector
from ._store import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PinpointStore, role_name_from_arn

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from ._wsgi import PinpointApp, RequestRecord

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "PinpointEmulator", "SeedResult"]

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"
"""Account id in the emulator's ARNs (moto's default account)."""
TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PINPOINT_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "pinpoint.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class SeedResult:
    """What :meth:`PinpointEmulator.seed` created.

    :ivar application_id: The new Pinpoint application (project).
    :ivar segment_id: A segment selecting every endpoint of the application.
    :ivar bucket: The S3 bucket (in moto) that export jobs may write to.
    :ivar role_arn: The IAM role (in moto) trusted by ``pinpoint.amazonaws.com``, allowed to write there.
    :ivar endpoint_ids: Ids of the seeded endpoints, in creation order.
    :ivar s3_base_prefix: ``s3://<bucket>/exports``, a prefix to export under.
    """

    application_id: str
    segment_id: str
    bucket: str
    role_arn: str
    endpoint_ids: tuple[str, ...]
    s3_base_prefix: str


class PinpointEmulator:
    """Pinpoint (apps, endpoints, segments, export jobs) plus moto on one threaded local HTTP server.

    :param port: TCP port to listen on; 0 picks a free one (see :attr:`endpoint_url` after :meth:`start`).
    :param step_seconds: Seconds an export job spends in each lifecycle state. 0 means the first
        GetExportJob after CreateExportJob already shows COMPLETED (or FAILED); the
        CreateExportJob response itself always shows CREATED. Settable at any time.
    :param piece_size: Endpoints per exported piece (file); TotalPieces = ceil(endpoints / piece_size),
        at least 1.
    :param region_name: Region of the clients and ARNs the emulator hands out.
    :param seed: Seed for ids, page-token salts and fault draws, so runs are reproducible.
    :param host: Address to bind; keep the loopback default.
    :param tls: Serve HTTPS with a self-signed certificate made at start (for 127.0.0.1 and
        localhost); :attr:`ca_bundle` is its path, to pass as ``verify``. A client that
        verifies against the usual CA bundle gets a real certificate failure.
    :param clock: Returns the current time in epoch seconds (default :func:`time.time`); inject a fake
        one to drive the job lifecycle without sleeping.

    List operations (GetApps, GetSegments, GetExportJobs, GetSegmentExportJobs) answer
    ``DEFAULT_PAGE_SIZE`` (20) items per page unless ``PageSize`` says otherwise, accept at most
    ``MAX_PAGE_SIZE`` (100), order items by Id (random hex, so neither newest nor oldest first) and
    hand out opaque NextTokens; the last page has no NextToken.
    """

    def __init__(
        self,
        port: int = 0,
        step_seconds: float = 0.0,
        piece_size: int = 1000,
        region_name: str = "us-east-1",
        seed: int = 0,
        host: str = "127.0.0.1",
        clock: Callable[[], float] | None = None,
        tls: bool = False,
    ) -> None:
        self._tls = tls
        self._tls_dir: Any = None
        self._requested_port = port
        self._host = host
        self._region_name = region_name
        self._initial_step_seconds = step_seconds
        self._initial_piece_size = piece_size
        self.faults = FaultInjector(seed)
        self._sink = _MotoSink(self._internal_client)
        self.store = PinpointStore(
            region_name=region_name,
            account_id=ACCOUNT_ID,
            clock=clock or time.time,
            sink=self._sink,
            step_seconds=step_seconds,
            piece_size=piece_size,
            seed=seed,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._app: PinpointApp | None = None
        self._session: Any = None
        self._session_lock = threading.Lock()
        self._internal_clients: dict[str, Any] = {}

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> PinpointEmulator:
        """Start serving in a daemon thread; returns ``self``.

        Raises RuntimeError if already started, OSError naming host and port when the port
        cannot be listened on (e.g. it is taken), and ImportError naming the ``[testing]`` extra
        when moto or werkzeug is not installed.
        """
        if self._server is not None:
            raise RuntimeError("The emulator is already running")
        try:
            import moto  # noqa: F401
            from werkzeug.serving import make_server
        except ImportError as error:
            raise ImportError(
                f"The Pinpoint emulator needs moto and werkzeug ({error}): "
                'pip install "airflow-provider-pinpoint[testing]"'
            ) from error

        from ._control import ControlApp
        from ._wsgi import DispatcherApp, PinpointApp

        self._app = PinpointApp(self.store, self.faults)
        app = DispatcherApp(self._app, _moto_app(), ControlApp(self.store, self.faults, self.reset))
        ssl_context = None
        if self._tls:
            import tempfile

            self._tls_dir = tempfile.TemporaryDirectory(prefix="pinpoint-emulator-tls-")
            ssl_context = _self_signed(self._tls_dir.name)
        listener = _listen(self._host, self._requested_port)
        try:
            server = make_server(
                self._host,
                self._requested_port,
                app,
                threaded=True,
                request_handler=_handler(),
                ssl_context=ssl_context,
                fd=listener.fileno(),
            )
        except SystemExit as exc:  # werkzeug exits on some start-up errors: make them exceptions
            raise OSError(f"Cannot serve on {self._host}:{self._requested_port}") from exc
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        server.log = _server_log  # type: ignore[method-assign]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="pinpoint-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (no-op when not running)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._internal_clients.clear()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self) -> PinpointEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    # ----------------------------------------------------------------- addresses and clients
    @property
    def port(self) -> int:
        """The TCP port served on (RuntimeError before :meth:`start`)."""
        return int(self._require_server().server_address[1])

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` with tls): the endpoint_url for pinpoint, s3, iam, sts."""
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        """With ``tls=True``, the path of the emulator's certificate (a CA bundle for ``verify``)."""
        return None if self._tls_dir is None else f"{self._tls_dir.name}/cert.pem"

    @property
    def control_url(self) -> str:
        """``http://127.0.0.1:PORT/_emulator``: the control API (fault switches, reset, job states)."""
        return f"{self.endpoint_url}/_emulator"

    @property
    def region_name(self) -> str:
        """The region clients are created for."""
        return self._region_name

    @property
    def airflow_conn_uri(self) -> str:
        """JSON connection for ``AIRFLOW_CONN_AWS_DEFAULT``: test credentials, endpoint_url and region."""
        extra: dict[str, Any] = {"endpoint_url": self.endpoint_url, "region_name": self.region_name}
        if self.ca_bundle:
            extra["verify"] = self.ca_bundle
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra})

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service_name`` pointed at the emulator, with test credentials.

        :param service_name: Any boto3 service name (``"pinpoint"``, ``"s3"``, ``"iam"``, ...).
        :param kwargs: Forwarded to ``boto3.session.Session.client`` (e.g. ``config=``); they override
            the defaults ``endpoint_url``, ``region_name`` and the dummy credentials.
        """
        params: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region_name,
            **TEST_CREDENTIALS,
        }
        if self.ca_bundle:
            params["verify"] = self.ca_bundle
        params.update(kwargs)
        with self._session_lock:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()
            return self._session.client(service_name, **params)

    def _internal_client(self, service_name: str) -> Any:
        with self._session_lock:
            cached = self._internal_clients.get(service_name)
        if cached is None:
            cached = self.client(service_name)
            with self._session_lock:
                cached = self._internal_clients.setdefault(service_name, cached)
        return cached

    # ----------------------------------------------------------------- settings
    @property
    def step_seconds(self) -> float:
        """Seconds an export job spends in each lifecycle state (0: finished on first read)."""
        return self.store.step_seconds

    @step_seconds.setter
    def step_seconds(self, value: float) -> None:
        if value < 0:
            raise ValueError("step_seconds must not be negative")
        self.store.step_seconds = value

    @property
    def piece_size(self) -> int:
        """Endpoints per exported piece, for jobs created from now on."""
        return self.store.piece_size

    @piece_size.setter
    def piece_size(self, value: int) -> None:
        if value < 1:
            raise ValueError("piece_size must be at least 1")
        self.store.piece_size = value

    # ----------------------------------------------------------------- observing
    @property
    def request_log(self) -> list[RequestRecord]:
        """A copy of the Pinpoint requests answered so far, as ``(operation, status)`` named tuples.

        Faulted requests are included with their injected status; unroutable ones are logged as
        ``"UnknownOperation"``. S3/IAM/STS requests are not logged.
        """
        if self._app is None:
            return []
        with self._app._log_lock:
            return list(self._app.request_log)

    def calls(self, operation: str) -> int:
        """How many requests reached ``operation`` (e.g. ``"GetExportJob"``), faulted ones included."""
        return sum(1 for record in self.request_log if record.operation == operation)

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Wipe Pinpoint state, moto's state, faults and the request log; restore step_seconds and
        piece_size to the constructor's values."""
        self.store.reset()
        self.store.step_seconds = self._initial_step_seconds
        self.store.piece_size = self._initial_piece_size
        self.faults.reset()
        if self._app is not None:
            self._app.clear_log()
        if self._server is not None:
            request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", data=b"", method="POST")
            handlers: list[Any] = [urllib.request.ProxyHandler({})]  # never via a proxy
            if self.ca_bundle:
                import ssl

                handlers.append(
                    urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=self.ca_bundle))
                )
            opener = urllib.request.build_opener(*handlers)
            with opener.open(request, timeout=30) as response:
                response.read()

    def seed(
        self,
        n_endpoints: int = 100,
        bucket: str = "pinpoint-exports",
        role_name: str = "pinpoint-export-role",
        channel_types: Sequence[str] = ("EMAIL", "SMS", "APNS", "GCM"),
        application_name: str = "demo",
    ) -> SeedResult:
        """Create a bucket, an export role, an application with endpoints and an all-endpoints segment.

        The bucket and role go to moto (created if missing, reused if present); the application,
        its ``n_endpoints`` endpoints (channel types taken round-robin from ``channel_types``) and the
        segment are written straight into the emulator's store. The endpoints are deterministic
        (the same seed gives the same ones) and are rebuilt from their index when read or
        exported rather than stored, so 1,000,000 take a few seconds and about a hundred
        megabytes. Requires a started emulator.
        """
        if not channel_types:
            raise ValueError("channel_types must not be empty")
        self._require_server()
        self._create_bucket(bucket)
        role_arn = self._create_role(role_name, bucket)
        app = self.store.add_app(application_name)
        endpoint_ids = self.store.add_demo_endpoints(app.id, n_endpoints, channel_types)
        segment = self.store.add_segment(app.id, "all-endpoints")
        return SeedResult(
            application_id=app.id,
            segment_id=segment.id,
            bucket=bucket,
            role_arn=role_arn,
            endpoint_ids=tuple(endpoint_ids),
            s3_base_prefix=f"s3://{bucket}/exports",
        )

    def seed_export_jobs(
        self,
        application_id: str,
        segment_id: str,
        n: int,
        *,
        role_arn: str | None = None,
        s3_url_prefix: str = "s3://pinpoint-exports/exports/history",
        interval_seconds: float = 60.0,
    ) -> list[str]:
        """Give a segment a history of ``n`` finished export jobs, written straight into the store.

        Each job is COMPLETED (one piece, nothing processed, as an export of an empty segment)
        with a Definition, a CreationDate and a CompletionDate; no file is written, and listing or
        reading the jobs never runs an export. The newest was created ``interval_seconds`` before
        now, each other one ``interval_seconds`` before the next, so a job created afterwards is
        the segment's newest. 100,000 jobs take about a second.

        :param application_id: The segment's application.
        :param segment_id: The segment the jobs exported.
        :param role_arn: The jobs' RoleArn (default: the role ``seed`` creates).
        :param s3_url_prefix: The jobs' S3UrlPrefix.
        :param interval_seconds: Seconds between two jobs' CreationDates.
        :return: The jobs' ids, oldest first.
        """
        role = role_arn or f"arn:aws:iam::{ACCOUNT_ID}:role/pinpoint-export-role"
        return self.store.add_export_jobs(
            application_id, segment_id, n, role, s3_url_prefix, interval_seconds=interval_seconds
        )

    def set_job_status(self, application_id: str, job_id: str, status: str, **fields: Any) -> None:
        """Make an export job report ``status`` (any string, e.g. ``"FAILING"``, ``"SOMETHING_NEW"``).

        ``fields`` replace members of the ExportJobResponse, e.g. ``Definition={}`` or
        ``Failures=["..."]``; a ``None`` value removes the member. The override sticks until the
        job is scripted again. Shorthand for ``script_job(application_id, job_id, [{...}])``.
        """
        self.script_job(application_id, job_id, [{**fields, "JobStatus": status}])

    def script_job(
        self, application_id: str, job_id: str | None, steps: Sequence[str | Mapping[str, Any]]
    ) -> None:
        """Script what an export job reports, one step per GetExportJob call.

        :param application_id: The job's application.
        :param job_id: The job, or ``None`` for the next job created in the application (scripts for
            future jobs queue up in order).
        :param steps: Each a JobStatus string or a mapping of ExportJobResponse members (with or
            without ``JobStatus``; a ``None`` value removes the member). Every GetExportJob
            answers the next step; the last step then sticks. List operations show the step
            the next GetExportJob will answer. Before a step reporting COMPLETED or FAILED the
            export itself runs (once), so files exist as far as the bucket and role allow.
        """
        self.store.script_job(application_id, job_id, steps)

    # ----------------------------------------------------------------- helpers
    def _require_server(self) -> BaseWSGIServer:
        if self._server is None:
            raise RuntimeError("The emulator is not running: call start() first")
        return self._server

    def _create_bucket(self, bucket: str) -> None:
        s3 = self._internal_client("s3")
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.region_name != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region_name}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(**kwargs)

    def _create_role(self, role_name: str, bucket: str) -> str:
        iam = self._internal_client("iam")
        try:
            role = iam.create_role(
                RoleName=role_name, AssumeRolePolicyDocument=json.dumps(PINPOINT_TRUST_POLICY)
            )
        except iam.exceptions.EntityAlreadyExistsException:
            return str(iam.get_role(RoleName=role_name)["Role"]["Arn"])
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetBucketLocation", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
        iam.put_role_policy(
            RoleName=role_name, PolicyName="pinpoint-export-write", PolicyDocument=json.dumps(policy)
        )
        return str(role["Role"]["Arn"])


class _MotoSink:
    """Export sink backed by moto's S3 and IAM, reached with boto3 through the emulator itself."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self._client = client

    def check(self, bucket: str, role_arn: str) -> list[str]:
        """Reasons the export must fail: missing bucket, missing role, role not trusting Pinpoint."""
        from botocore.exceptions import ClientError

        reasons = []
        try:
            self._client("s3").head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                reasons.append(f"Bucket {bucket} does not exist")
            else:
                reasons.append(f"Bucket {bucket} is not accessible ({code})")
        try:
            role = self._client("iam").get_role(RoleName=role_name_from_arn(role_arn))["Role"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchEntity":
                reasons.append(f"Role {role_arn} does not exist")
            else:
                reasons.append(f"Role {role_arn} cannot be read ({code})")
        else:
            trust = role.get("AssumeRolePolicyDocument", "")
            if "pinpoint.amazonaws.com" not in (trust if isinstance(trust, str) else json.dumps(trust)):
                reasons.append(f"Role {role_arn} does not trust pinpoint.amazonaws.com")
        return reasons

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Write one gzip piece: straight into moto's S3 backend when this moto allows, else over HTTP."""
        if not _put_into_moto(bucket, key, body):
            self._client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/gzip")


def _put_into_moto(bucket: str, key: str, body: bytes) -> bool:
    """Store an object in moto's in-process S3 backend; False when this moto's API differs."""
    try:
        from moto.s3.models import s3_backends

        stored = s3_backends[ACCOUNT_ID]["global"].put_object(bucket, key, body, disable_notification=True)
        stored.set_metadata({"Content-Type": "application/gzip"})
    except (ImportError, AttributeError, KeyError, TypeError):
        return False
    return True


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``; OSError naming both when that is impossible."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise OSError(exc.errno, f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise OSError(exc.errno, f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return listener


def _self_signed(folder: str) -> tuple[str, str]:
    """Write a self-signed certificate for 127.0.0.1 and localhost (and its key) into ``folder``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinpoint-emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = f"{folder}/cert.pem", f"{folder}/key.pem"
    with open(cert_path, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def _moto_app() -> Any:
    """Moto's server WSGI app (all services, dispatched on the request)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def _handler() -> type:
    """A request handler that keeps client addresses out of the logs (moto's own when present)."""
    from werkzeug.serving import WSGIRequestHandler

    base: type[WSGIRequestHandler] = WSGIRequestHandler
    try:
        from moto.moto_server.werkzeug_app import MotoRequestHandler

        base = MotoRequestHandler
    except ImportError:  # older moto has none
        pass

    class QuietRequestHandler(base):  # type: ignore[misc, valid-type]
        def log(self, type: str, message: str, *args: Any) -> None:
            if type == "error":
                log.error("Emulator request failed")

    return QuietRequestHandler


def _server_log(type: str, message: str, *args: Any) -> None:
    getattr(log, type if type in ("info", "warning", "error") else "info")(message.rstrip(), *args)
