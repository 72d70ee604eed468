"""``pyresque metrics`` and ``pyresque web``: servers that run until SIGTERM/SIGINT (exit
status 0), and the metrics endpoint ``worker`` and ``start`` open with ``--metrics-port``.

Their extras are imported when they run: a missing one is a usage error naming the
``pip install`` that brings it (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pyresque.cli.options import missing_extra, usage_error
from pyresque.errors import ConfigurationError, PyresqueError, UsageError
from pyresque.logs import configure_logging
from pyresque.queue import Queue
from pyresque.signals import StopSignals

if TYPE_CHECKING:
    from pyresque.metrics import MetricsServer, WorkerMetrics
    from pyresque.worker import MultiWorker, Worker

__all__ = ["is_loopback", "metrics", "open_metrics", "say_listening", "web"]

log = logging.getLogger("pyresque.cli")


def say_listening(what: str, url: str) -> None:
    """``pyresque <what>: listening on <url>`` on stderr (a test reads the port there)."""
    print(f"pyresque {what}: listening on {url}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _extra(name: str) -> Iterator[None]:
    """An import of an extra's package that fails is a usage error naming the extra."""
    try:
        yield
    except ImportError as exc:  # MissingExtraError too
        raise UsageError(
            f"this command needs the {name} extra ({exc}): pip install 'pyresque[{name}]'"
        ) from None


async def open_metrics(
    host: str,
    port: int,
    queue: Queue,
    *,
    workers: Sequence[Worker | MultiWorker] = (),
    worker_metrics: WorkerMetrics | None = None,
) -> MetricsServer:
    """Serve ``/metrics`` (``workers``' jobs or ``worker_metrics``, and ``queue``'s
    fleet), ``/healthz``, ``/readyz`` on ``host:port``; say where on stderr. A port that
    cannot be bound is an error of its own (exit status 1)."""
    with _extra("metrics"):
        from pyresque.metrics import serve_metrics
    try:
        server = await serve_metrics(
            host, port, workers=workers, queue=queue, worker_metrics=worker_metrics
        )
    except OSError as exc:
        raise PyresqueError(f"metrics: cannot listen on {host}:{port}: {exc}") from None
    say_listening("metrics", f"{server.url}/metrics")
    return server


def metrics(options: argparse.Namespace) -> int:
    """``pyresque metrics``: the namespace's fleet exporter, until SIGTERM/SIGINT."""
    if missing := missing_extra("metrics"):
        return usage_error(missing)
    configure_logging("info")

    async def serve() -> int:
        queue = Queue(options.redis, namespace=options.namespace, dialect=options.dialect)
        async with queue:
            server = await open_metrics(options.host, options.port, queue)
            try:
                await _until_signalled("metrics")
            finally:
                await server.aclose()
        return 0

    return asyncio.run(serve())


async def _until_signalled(what: str) -> StopSignals:
    stop = StopSignals(log, what, stop="stopping", cut_off="stopping at once")
    with stop:
        await stop.changed.wait()
    return stop


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8,
    ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _web_config(options: argparse.Namespace) -> Any:
    """The dashboard's WebConfig: the environment's, then the command line's."""
    from pyresque.web.config import WebConfig, parse_fleets

    try:
        return WebConfig.from_env(
            redis=options.redis,
            fleets=parse_fleets(options.namespaces) if options.namespaces else None,
            read_only=True if options.read_only else None,
            refresh_ms=options.refresh,
            app_path=options.app,
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise PyresqueError(f"web: cannot listen on {host}:{port}: {exc}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def web(options: argparse.Namespace) -> int:
    """``pyresque web``: the dashboard under uvicorn, until SIGTERM/SIGINT (exit 0)."""
    if missing := missing_extra("web"):
        return usage_error(missing)
    with _extra("web"):
        import uvicorn

        from pyresque.web import create_app
    config = _web_config(options)
    if not config.authenticated and not is_loopback(options.host) and not options.insecure:
        return usage_error(
            f"--host {options.host} serves the dashboard beyond this machine, and it has no "
            "authentication: anyone who reaches it could retry, remove and clean. Set "
            "PYRESQUE_WEB_TOKEN (or PYRESQUE_WEB_USERNAME and PYRESQUE_WEB_PASSWORD), or "
            "pass --insecure if something in front of it authenticates"
        )
    configure_logging("info")
    sock = _bind(options.host, options.port)

    class Server(uvicorn.Server):
        """uvicorn's server, stopped by our signal handling (its own would raise the
        signal again once stopped, and the process would die of it)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    server = Server(
        uvicorn.Config(create_app(config), log_level="info", lifespan="on", access_log=False)
    )

    async def serve() -> int:
        served = asyncio.ensure_future(server.serve(sockets=[sock]))
        stop = StopSignals(log, "web", stop="stopping", cut_off="stopping at once")
        with stop:
            host, port = sock.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            say_listening("web", f"http://{shown}:{port}/")
            while not served.done():
                waiting = asyncio.ensure_future(stop.changed.wait())
                await asyncio.wait({served, waiting}, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                stop.changed.clear()
                server.should_exit = stop.stopping
                server.force_exit = stop.cutting_off
            await served
        return 0

    try:
        return asyncio.run(serve())
    finally:
        sock.close()
