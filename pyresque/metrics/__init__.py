"""Prometheus metrics for a resque fleet: the fleet's state read from Redis per scrape
(:class:`FleetCollector`), the jobs a worker process runs (:class:`WorkerMetrics`), and
``/metrics``, ``/healthz``, ``/readyz`` over HTTP (:func:`serve_metrics`) or ASGI
(:func:`asgi_app`). Metric names, labels and meanings: ``spec/metrics.md``.

Needs the ``metrics`` extra: ``pip install 'pyresque[metrics]'`` (prometheus-client).
"""

from __future__ import annotations

try:
    import prometheus_client  # noqa: F401
except ImportError as exc:  # pragma: no cover - tested by hand in a bare venv
    from pyresque.errors import MissingExtraError

    raise MissingExtraError(
        "pyresque.metrics needs prometheus-client: pip install 'pyresque[metrics]'"
    ) from exc

from pyresque.metrics.failed import FailedCounts, failed_labels, job_label
from pyresque.metrics.fleet import WORKER_STATES, FleetCollector
from pyresque.metrics.http import (
    MetricsEndpoints,
    MetricsServer,
    asgi_app,
    exposition,
    not_ready,
    serve_metrics,
)
from pyresque.metrics.workers import DURATION_BUCKETS, WAIT_BUCKETS, WorkerMetrics, enqueued_at

__all__ = [
    "DURATION_BUCKETS",
    "WAIT_BUCKETS",
    "WORKER_STATES",
    "FailedCounts",
    "FleetCollector",
    "MetricsEndpoints",
    "MetricsServer",
    "WorkerMetrics",
    "asgi_app",
    "enqueued_at",
    "exposition",
    "failed_labels",
    "job_label",
    "not_ready",
    "serve_metrics",
]
