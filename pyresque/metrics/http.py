"""Serving metrics: ``/metrics``, ``/healthz`` and ``/readyz`` for a worker process, a
standalone exporter, or inside an ASGI app.

:func:`serve_metrics` starts a small asyncio HTTP/1.1 server (one request per connection,
GET and HEAD) on the running loop; :func:`asgi_app` answers the same three paths inside
any ASGI application; :func:`exposition` is the encoding both use (text format 0.0.4, or
OpenMetrics when the scraper asks for it).

* ``/metrics``: the worker metrics (:class:`~pyresque.metrics.WorkerMetrics`), the
  fleet's (:class:`~pyresque.metrics.FleetCollector`) when a queue was given, and any
  other registry given.
* ``/healthz``: 200 ``ok`` while the process answers.
* ``/readyz``: 200 when every worker has started and Redis answered it within its limit
  (see :func:`not_ready`); 503 with the reasons otherwise. Without workers: 200 when
  Redis answers a PING within 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any, Protocol

from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder

from pyresque.errors import PyresqueError
from pyresque.metrics.fleet import FleetCollector
from pyresque.metrics.workers import WorkerMetrics
from pyresque.queue import Queue
from pyresque.worker.multi import MultiWorker
from pyresque.worker.worker import Worker

__all__ = [
    "MetricsEndpoints",
    "MetricsServer",
    "Response",
    "asgi_app",
    "exposition",
    "not_ready",
    "serve_metrics",
]

log = logging.getLogger("pyresque.metrics")

Response = tuple[int, str, bytes]
"""``(status, content type, body)``."""

_TEXT = "text/plain; charset=utf-8"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"
_MAX_HEAD = 16 * 1024
_READ_TIMEOUT = 10.0


class Collector(Protocol):
    """What prometheus_client can encode: anything with ``collect()``."""

    def collect(self) -> Iterable[Metric]: ...  # pragma: no cover - a protocol


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def exposition(
    fleet: FleetCollector | None = None,
    collectors: Sequence[Collector] = (),
    *,
    accept: str = "",
) -> tuple[bytes, str]:
    """The scrape body and its content type: ``collectors``' metrics, then the fleet's
    (read now). ``accept``: the scraper's Accept header (OpenMetrics when it asks)."""
    families: list[Metric] = []
    for collector in collectors:
        families.extend(collector.collect())
    if fleet is not None:
        families.extend(await fleet.collect())
    encode, content_type = choose_encoder(accept)
    return encode(_Families(families)), content_type


def _limit(worker: Worker) -> float:
    """Seconds without a reply after which a worker is not ready: three polls, two Ruby
    heartbeats, and at least 30 s (a long job sends nothing but those)."""
    return max(30.0, 3 * worker.timeout / 1000, 2 * worker.heartbeat_interval)


def not_ready(workers: Sequence[Worker | MultiWorker], within: float | None = None) -> list[str]:
    """Why ``workers`` are not ready (an empty list: they are). A Worker is ready while
    it runs and Redis answered it (a step, a ping or heartbeat) within ``within`` seconds
    (None: three polls, two heartbeats, at least 30 s); a MultiWorker while it runs and
    has children, each ready."""
    now = time.monotonic()
    reasons: list[str] = []
    for watched in workers:
        if not watched.running:
            reasons.append(f"{watched!r} is not running")
            continue
        pool = watched.workers if isinstance(watched, MultiWorker) else [watched]
        if not pool:
            reasons.append(f"{watched!r} has no worker started yet")
        for worker in pool:
            limit = _limit(worker) if within is None else within
            answered = worker.last_reply_at
            if not worker.running:
                reasons.append(f"{worker!r} is not running")
            elif answered is None or now - answered > limit:
                ago = "never" if answered is None else f"{now - answered:.1f} s ago"
                reasons.append(f"{worker!r}: Redis last answered {ago} (limit {limit:g} s)")
    return reasons


class MetricsEndpoints:
    """The three paths' answers, for any server: see the module docstring."""

    def __init__(
        self,
        *,
        workers: Sequence[Worker | MultiWorker] = (),
        fleet: FleetCollector | None = None,
        collectors: Sequence[Collector] = (),
        queue: Queue | None = None,
        ready_within: float | None = None,
    ) -> None:
        self.workers = list(workers)
        self.fleet = fleet
        self.collectors = list(collectors)
        self.queue = queue if queue is not None else fleet.queue if fleet is not None else None
        self.ready_within = ready_within

    async def ready(self) -> Response:
        """``/readyz``: 200 ``ready``, or 503 and one reason per line."""
        if self.workers:
            reasons = not_ready(self.workers, self.ready_within)
        elif self.queue is not None:
            reasons = await self._ping()
        else:
            reasons = []
        if reasons:
            return 503, _TEXT, ("\n".join(reasons) + "\n").encode()
        return 200, _TEXT, b"ready\n"

    async def _ping(self) -> list[str]:
        assert self.queue is not None
        try:
            async with asyncio.timeout(2.0):
                await self.queue.connect()
        except (PyresqueError, OSError, TimeoutError) as exc:
            return [f"Redis did not answer a PING: {exc or type(exc).__name__}"]
        return []

    async def respond(self, method: str, path: str, accept: str = "") -> Response:
        """The answer to ``method path`` (the query string is ignored)."""
        path = path.split("?", 1)[0]
        if path not in ("/metrics", "/healthz", "/readyz"):
            return 404, _TEXT, b"not found: try /metrics, /healthz or /readyz\n"
        if method not in ("GET", "HEAD"):
            return 405, _TEXT, b"method not allowed\n"
        if path == "/healthz":
            return 200, _TEXT, b"ok\n"
        if path == "/readyz":
            return await self.ready()
        body, content_type = await exposition(self.fleet, self.collectors, accept=accept)
        return 200, content_type, body


def _head(status: int, content_type: str, length: int) -> bytes:
    return (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode("latin-1")


class MetricsServer:
    """A running :func:`serve_metrics` server: ``port`` (the one bound, also for port 0),
    ``url``, ``endpoints``, ``worker_metrics``; :meth:`aclose` or ``async with`` stops it.
    """

    def __init__(
        self,
        server: asyncio.Server,
        endpoints: MetricsEndpoints,
        worker_metrics: WorkerMetrics | None,
    ) -> None:
        self._server = server
        self.endpoints = endpoints
        self.worker_metrics = worker_metrics
        sockname = server.sockets[0].getsockname()
        self.host, self.port = str(sockname[0]), int(sockname[1])

    @property
    def url(self) -> str:
        """``http://host:port`` (a wildcard address as 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}" if ":" not in host else f"http://[{host}]:{self.port}"

    async def aclose(self) -> None:
        """Stop listening and close open connections."""
        self._server.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _serve(
    endpoints: MetricsEndpoints, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {
            name.strip().lower(): value.strip()
            for name, sep, value in (line.partition(":") for line in lines[1:])
            if sep
        }
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            status, content_type, body = 400, _TEXT, b"bad request\n"
            method = "GET"
        else:
            method = parts[0]
            try:
                status, content_type, body = await endpoints.respond(
                    method, parts[1], headers.get("accept", "")
                )
            except Exception:
                log.exception("metrics: answering %s failed", parts[1])
                status, content_type, body = 503, _TEXT, b"the metrics could not be read\n"
        writer.write(_head(status, content_type, len(body)) + (b"" if method == "HEAD" else body))
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve_metrics(
    host: str,
    port: int,
    *,
    workers: Sequence[Worker | MultiWorker] = (),
    queue: Queue | None = None,
    worker_metrics: WorkerMetrics | None = None,
    collectors: Sequence[Collector] = (),
    stale_after: float = 300.0,
    ready_within: float | None = None,
) -> MetricsServer:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` (port 0: any
    free one; see ``MetricsServer.port``) from the running loop, until ``aclose()``.

    ``workers``: measured by a :class:`WorkerMetrics` (``worker_metrics``, else a new
    one; attach before they take jobs) and judged by ``/readyz``. ``queue``: the fleet's
    state is read from it on every scrape (:class:`FleetCollector`, ``stale_after``).
    ``collectors``: more to serve (a prometheus_client ``CollectorRegistry`` ...).
    """
    if workers and worker_metrics is None:
        worker_metrics = WorkerMetrics()
    if worker_metrics is not None:
        worker_metrics.attach(*workers)
    served: list[Collector] = [worker_metrics.registry] if worker_metrics is not None else []
    fleet = FleetCollector(queue, stale_after=stale_after) if queue is not None else None
    endpoints = MetricsEndpoints(
        workers=workers,
        fleet=fleet,
        collectors=[*served, *collectors],
        queue=queue,
        ready_within=ready_within,
    )

    def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Awaitable[None]:
        return _serve(endpoints, reader, writer)

    server = await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
    return MetricsServer(server, endpoints, worker_metrics)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def asgi_app(endpoints: MetricsEndpoints) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI application answering ``/metrics``, ``/healthz`` and ``/readyz`` (relative
    to where it is mounted: ``root_path`` is taken off the path)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": f"{message['type']}.complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        path = str(scope.get("path", "/"))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, content_type, body = await endpoints.respond(
            scope["method"], path, headers.get("accept", "")
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        shown = b"" if scope["method"] == "HEAD" else body
        await send({"type": "http.response.body", "body": shown})

    return app
