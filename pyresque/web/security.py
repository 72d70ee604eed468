"""Who may use the dashboard, and that a change was asked for by its own pages.

Authentication: ``Authorization: Bearer <token>`` (API clients), a session cookie a
browser gets by signing in with the token at ``/login``, or HTTP Basic. Compared in
constant time.

CSRF: every change is a POST. A browser's POST must carry the value of the
``pyresque_csrf`` cookie (SameSite=Strict, set on the first response) in the form field
``csrf`` or the ``X-CSRF-Token`` header; a cross-site page can neither read the cookie nor
make the browser send it. A request authenticated by a Bearer header carries no ambient
credential, so nothing cross-site can forge it, and it needs no CSRF token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pyresque.errors import WebRequestError
from pyresque.web.config import WebConfig

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "AuthMiddleware",
    "csrf_token",
    "read_change",
    "session_value",
]

CSRF_COOKIE = "pyresque_csrf"
SESSION_COOKIE = "pyresque_session"
_OPEN_PATHS = ("/login", "/static/")
_MAX_BODY = 1 << 20


def session_value(token: str) -> str:
    """The session cookie's value for ``token``: derived, so the cookie is not the token."""
    return hmac.new(token.encode(), b"pyresque-web-session", hashlib.sha256).hexdigest()


def _bearer(headers: Mapping[str, str]) -> str | None:
    kind, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if kind.lower() == "bearer" else None


def _basic(headers: Mapping[str, str]) -> tuple[str, str] | None:
    kind, _, value = headers.get("authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _same(given: str | None, expected: str | None) -> bool:
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def authentication(config: WebConfig, request: Request) -> str | None:
    """How ``request`` authenticated (``bearer``, ``session``, ``basic``), ``open`` when
    the dashboard needs none, or None when it did not."""
    if not config.authenticated:
        return "open"
    headers = request.headers
    if config.token is not None:
        if _same(_bearer(headers), config.token):
            return "bearer"
        if _same(request.cookies.get(SESSION_COOKIE), session_value(config.token)):
            return "session"
    if config.username is not None:
        found = _basic(headers)
        if found and _same(found[0], config.username) & _same(found[1], config.password):
            return "basic"
    return None


def route_path(scope: Scope) -> str:
    """The request's path inside the app (without the prefix it is mounted at)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def wants_json(request: Request) -> bool:
    """Whether the caller reads JSON (the API), not pages."""
    accept = request.headers.get("accept", "")
    return route_path(request.scope).startswith("/api/") or "application/json" in accept


class AuthMiddleware:
    """Refuses requests that did not authenticate; hands out the CSRF cookie."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        how = authentication(self.config, request)
        if how is None and not route_path(scope).startswith(_OPEN_PATHS):
            await self._refuse(request)(scope, receive, send)
            return
        scope.setdefault("state", {})["auth"] = how
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        scope["state"]["csrf"] = csrf
        fresh = CSRF_COOKIE not in request.cookies

        async def send_with_cookie(message: Any) -> None:
            if fresh and message["type"] == "http.response.start":
                root = scope.get("root_path", "") or "/"
                cookie = f"{CSRF_COOKIE}={csrf}; Path={root}; SameSite=Strict"
                message.setdefault("headers", []).append((b"set-cookie", cookie.encode()))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _refuse(self, request: Request) -> Response:
        if wants_json(request) or self.config.token is None:
            headers = {}
            if self.config.username is not None:
                headers["WWW-Authenticate"] = 'Basic realm="pyresque"'
            if wants_json(request):
                return JSONResponse({"error": "authentication needed"}, 401, headers=headers)
            return PlainTextResponse("authentication needed", 401, headers=headers)
        root = request.scope.get("root_path", "")
        target = quote(root + request.url.path, safe="/")
        return RedirectResponse(f"{root}/login?next={target}", 303)


def csrf_token(request: Request) -> str:
    """The CSRF token the page's forms and scripts send back."""
    token: str = request.scope["state"]["csrf"]
    return token


async def read_change(request: Request, config: WebConfig) -> dict[str, Any]:
    """The fields of a change (a form, or a JSON object), once it is allowed: not in
    read-only mode, and with the CSRF token unless the request came with a Bearer header."""
    if config.read_only:
        raise WebRequestError(403, "the dashboard is read-only")
    body = await _body(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/json":
        try:
            fields = json.loads(body or b"{}")
        except ValueError:
            raise WebRequestError(400, "the body is not JSON") from None
        if not isinstance(fields, dict):
            raise WebRequestError(400, "the body must be a JSON object")
    else:
        parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        fields = {k: v if k == "selected" else v[-1] for k, v in parsed.items()}
    if request.scope["state"].get("auth") != "bearer":
        given = request.headers.get("x-csrf-token") or fields.get("csrf")
        if not _same(given if isinstance(given, str) else None, request.cookies.get(CSRF_COOKIE)):
            raise WebRequestError(403, "missing or wrong CSRF token: reload the page and try again")
    fields.pop("csrf", None)
    return fields


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            raise WebRequestError(413, "the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)
