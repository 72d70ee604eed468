"""The dashboard as an ASGI app: :func:`create_app` gives a Starlette app to serve alone
(``pyresque web``) or to mount in your own Starlette or FastAPI app::

    from pyresque.web import WebConfig, create_app

    app.mount("/resque", create_app(WebConfig(redis=url, token=secret)))

Pages live under ``/n/<namespace>/``; each has its JSON twin under ``/api/n/<namespace>/``
(the same data). Changes are POSTs to ``.../actions/<name>`` (see :mod:`.actions`).
"""

from __future__ import annotations

import contextlib
import html
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pyresque._version import __version__
from pyresque.errors import PyresqueError, WebRequestError
from pyresque.fleet import FailedFilter
from pyresque.queue import Queue
from pyresque.web import data
from pyresque.web.actions import ACTIONS, describe
from pyresque.web.config import Fleet, WebConfig
from pyresque.web.security import (
    SESSION_COOKIE,
    AuthMiddleware,
    csrf_token,
    read_change,
    session_value,
    wants_json,
)

__all__ = ["Dashboard", "create_app"]

log = logging.getLogger("pyresque.web")
_FILES = resources.files("pyresque.web")
_MAX_LIMIT = 500


class Dashboard:
    """The app's state: its settings and one Queue per namespace (connected on first use)."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.queues = {
            fleet.namespace: Queue(config.redis, namespace=fleet.namespace, dialect=fleet.dialect)
            for fleet in config.fleets
        }
        self.templates = jinja2.Environment(
            loader=jinja2.FunctionLoader(_template),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["ms"] = _iso_ms
        self.templates.filters["ago"] = _ago
        self._app: Any = None
        self._collectors: dict[str, Any] = {}

    def app(self) -> Any:
        """The task app of ``config.app_path`` (loaded once; None without one)."""
        if self.config.app_path is None:
            return None
        if self._app is None:
            from pyresque.tasks.app import App

            self._app = App.from_path(self.config.app_path)
        return self._app

    def collector(self, namespace: str) -> Any:
        """The namespace's metrics collector, kept so its failed counts stay incremental."""
        if namespace not in self._collectors:
            try:
                from pyresque.metrics import FleetCollector
            except ImportError:
                raise WebRequestError(
                    404, "metrics need prometheus-client: pip install 'pyresque[metrics]'"
                ) from None
            self._collectors[namespace] = FleetCollector(self.queues[namespace])
        return self._collectors[namespace]

    async def aclose(self) -> None:
        """Close the namespaces' connections."""
        for queue in self.queues.values():
            await queue.aclose()

    def queue(self, request: Request) -> tuple[Fleet, Queue]:
        namespace = request.path_params["ns"]
        fleet = self.config.fleet(namespace)
        if fleet is None:
            raise WebRequestError(404, f"this dashboard does not show namespace {namespace!r}")
        return fleet, self.queues[namespace]


def _template(name: str) -> str:
    return _FILES.joinpath("templates", name).read_text()


def _iso_ms(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(value: object, now: object) -> str:
    if not isinstance(value, int | float) or not isinstance(now, int | float):
        return "-"
    seconds = int((now - value) / 1000)
    sign = "in " if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            text = f"{seconds // size}{unit}"
            return sign + text + ("" if sign else " ago")
    return sign + f"{seconds}s" + ("" if sign else " ago")


def _window(request: Request, config: WebConfig) -> tuple[int, int]:
    try:
        offset = max(0, int(request.query_params.get("offset", 0)))
        limit = int(request.query_params.get("limit", config.page_size))
    except ValueError:
        raise WebRequestError(400, "offset and limit must be whole numbers") from None
    return offset, min(max(1, limit), _MAX_LIMIT)


def _failed_filter(request: Request) -> FailedFilter:
    query = request.query_params
    return FailedFilter(
        query.get("queue") or None,
        query.get("class") or None,
        query.get("exception") or None,
        query.get("q") or None,
    )


async def _read(name: str, request: Request) -> dict[str, Any]:
    """The data of page ``name``."""
    board: Dashboard = request.app.state.dashboard
    fleet, queue = board.queue(request)
    config = board.config
    if name == "overview":
        return await data.overview_page(queue, config)
    if name == "queue":
        offset, limit = _window(request, config)
        return await data.queue_page(queue, request.path_params["name"], offset, limit)
    if name == "workers":
        return await data.workers_page(queue, config)
    if name == "failed":
        offset, limit = _window(request, config)
        return await data.failed_page(queue, _failed_filter(request), offset, limit)
    if name == "delayed":
        offset, limit = _window(request, config)
        return await data.delayed_page(queue, offset, limit)
    if name == "locks":
        return await data.locks_page(queue)
    if name == "tasks":
        app = board.app()
        if app is None:
            raise WebRequestError(404, "no task app is configured (pyresque web --app PATH)")
        from pyresque.web.tasks import tasks_page

        return await tasks_page(queue, app)
    raise WebRequestError(404, f"no page {name!r}")


def _page(name: str) -> Any:
    async def html(request: Request) -> Response:
        board: Dashboard = request.app.state.dashboard
        found = await _read(name, request)
        partial = request.headers.get("x-pyresque-partial") == "1"
        fleet, _ = board.queue(request)
        context = {
            "page": name,
            "data": found,
            "fleet": fleet,
            "config": board.config,
            "fleets": board.config.fleets,
            "root": request.scope.get("root_path", ""),
            "csrf": csrf_token(request),
            "notice": request.query_params.get("notice"),
            "problem": request.query_params.get("problem"),
            "query": dict(request.query_params),
            "path": request.url.path,
            "version": __version__,
            "urlencode": urlencode,
            "now_ms": int(time.time() * 1000),
            "has_tasks": board.config.app_path is not None,
        }
        body = board.templates.get_template(f"{name}.html").render(context, partial=partial)
        return HTMLResponse(body)

    async def api(request: Request) -> Response:
        return JSONResponse(await _read(name, request))

    return html, api


async def _act(request: Request) -> Response:
    board: Dashboard = request.app.state.dashboard
    _, queue = board.queue(request)
    action = ACTIONS.get(request.path_params["action"])
    if action is None:
        raise WebRequestError(404, f"no action {request.path_params['action']!r}")
    fields = await read_change(request, board.config)
    back = fields.pop("next", None)
    done = await action(queue, board.config, fields)
    log.info("%s %s: %s", request.path_params["action"], describe(fields), done)
    if wants_json(request):
        return JSONResponse({"done": done})
    return RedirectResponse(_back(request, back, notice=done), 303)


def _back(request: Request, back: object, **query: str) -> str:
    root = request.scope.get("root_path", "")
    path = back if isinstance(back, str) and back.startswith(root + "/") else None
    if path is None or path.startswith("//"):
        path = f"{root}/n/{request.path_params['ns']}/"
    base, _, _ = path.partition("?")
    return f"{base}?{urlencode(query)}"


async def _metrics(request: Request) -> Response:
    """The namespace's fleet metrics, in Prometheus' text format (or OpenMetrics)."""
    board: Dashboard = request.app.state.dashboard
    board.queue(request)
    from pyresque.metrics import exposition

    collector = board.collector(request.path_params["ns"])
    body, content_type = await exposition(collector, accept=request.headers.get("accept", ""))
    return Response(body, media_type=content_type)


async def _home(request: Request) -> Response:
    board: Dashboard = request.app.state.dashboard
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/n/{board.config.fleets[0].namespace}/", 303)


async def _login(request: Request) -> Response:
    board: Dashboard = request.app.state.dashboard
    root = request.scope.get("root_path", "")
    target = request.query_params.get("next") or f"{root}/"
    if not target.startswith("/") or target.startswith("//"):
        target = f"{root}/"
    problem = None
    if request.method == "POST":
        fields = await read_change(request, board.config.with_(read_only=False))
        token = board.config.token
        if token is not None and fields.get("token") == token:
            response = RedirectResponse(target, 303)
            response.set_cookie(
                SESSION_COOKIE,
                session_value(token),
                httponly=True,
                samesite="strict",
                path=root or "/",
                secure=request.url.scheme == "https",
            )
            return response
        problem = "that token is not this dashboard's"
    body = board.templates.get_template("login.html").render(
        root=root, csrf=csrf_token(request), target=target, problem=problem, version=__version__
    )
    return HTMLResponse(body, 401 if problem else 200)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebRequestError)
    return _answer(request, exc.status, exc.message)


async def _failed(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return _answer(request, 502, f"Redis: {exc}")


def _answer(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status)
    if request.method == "POST" and "ns" in request.path_params and status not in (401, 403):
        return RedirectResponse(
            _back(request, request.headers.get("referer"), problem=message), 303
        )
    return HTMLResponse(
        f"<!doctype html><title>pyresque</title><p>{html.escape(message)}</p>", status
    )


def create_app(config: WebConfig | None = None) -> Starlette:
    """The dashboard for ``config`` (default: :meth:`WebConfig.from_env`)."""
    config = config or WebConfig.from_env()
    board = Dashboard(config)
    routes: list[Any] = [
        Route("/", _home),
        Route("/login", _login, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(packages=[("pyresque.web", "static")]), name="static"),
    ]
    for name, path in (
        ("overview", "/"),
        ("queue", "/queues/{name:path}"),
        ("workers", "/workers"),
        ("failed", "/failed"),
        ("delayed", "/delayed"),
        ("locks", "/locks"),
        ("tasks", "/tasks"),
    ):
        html, api = _page(name)
        routes.append(Route(f"/n/{{ns}}{path}", html, name=name))
        routes.append(Route(f"/api/n/{{ns}}{path}", api, name=f"api-{name}"))
    routes.append(Route("/n/{ns}/metrics", _metrics))
    routes.append(Route("/n/{ns}/actions/{action}", _act, methods=["POST"]))
    routes.append(Route("/api/n/{ns}/actions/{action}", _act, methods=["POST"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await board.aclose()

    app = Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, config=config)],
        exception_handlers={WebRequestError: _refused, PyresqueError: _failed},
        lifespan=lifespan,
    )
    app.state.dashboard = board
    return app
