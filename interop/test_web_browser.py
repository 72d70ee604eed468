"""The dashboard in a real browser (Debian's Chromium driven by Playwright), served by
uvicorn, over one Redis where a real node-resque worker, a pyresque worker and (where Ruby
resque is configured) a Ruby worker work side by side.

Screenshots go to ``$PYRESQUE_SCREENSHOTS`` (default: the test's tmp folder).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from interop.harness import Peer, ruby_unavailable, start_ruby
from pyresque import Queue, Worker
from pyresque.testing import poll_until
from tests.keys import key

pytestmark = pytest.mark.interop

CHROMIUM = os.environ.get("PYRESQUE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
        import uvicorn  # noqa: F401

        import pyresque.web  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[dev]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


_MISSING = _browser_missing()
if _MISSING is not None:
    pytest.skip(_MISSING, allow_module_level=True)

import uvicorn  # noqa: E402
from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402

from pyresque.web import Fleet, WebConfig, create_app  # noqa: E402


async def until(probe: Any, timeout: float = 10) -> Any:
    """Poll a blocking ``probe`` without blocking the loop the pyresque worker runs on."""

    async def ask() -> Any:
        return probe()

    return await poll_until(ask, timeout=timeout, interval=0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """A dashboard served by uvicorn on a thread of its own."""

    def __init__(self, config: WebConfig) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(config), port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    async def ready(self) -> None:
        await until(lambda: self.server.started, timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve(redis_url: str, resque_namespace: str) -> Iterator[Any]:
    servers: list[Served] = []

    def start(**options: Any) -> Served:
        options.setdefault("fleets", (Fleet(resque_namespace),))
        options.setdefault("refresh_ms", 500)
        served = Served(WebConfig(redis=redis_url, **options))
        servers.append(served)
        return served

    yield start
    for served in servers:
        served.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PYRESQUE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def flaky(order: int) -> int:
    """Fails its first run for an order (a declined card), succeeds after."""
    from pyresque import current_job

    job = current_job()
    assert job is not None
    keys = job.worker.context.keys
    client = redis.Redis.from_url(os.environ["PYRESQUE_TEST_REDIS_URL"])
    try:
        if client.incr(keys.key("attempts", str(order))) == 1:
            raise RuntimeError(f"card declined for order {order}")
        client.rpush(keys.key("done"), str(order))
    finally:
        client.close()
    return order


def mark(n: int) -> None:
    client = redis.Redis.from_url(os.environ["PYRESQUE_TEST_REDIS_URL"])
    from pyresque import current_job

    job = current_job()
    assert job is not None
    client.rpush(job.worker.context.keys.key("done"), f"mark-{n}")
    client.close()


@pytest.fixture
async def py_worker(
    redis_url: str, resque_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Worker]:
    monkeypatch.setenv("PYRESQUE_TEST_REDIS_URL", redis_url)
    worker = Worker(
        redis_url,
        ["py"],
        {"flaky": flaky, "mark": mark},
        namespace=resque_namespace,
        name="py-host:4242",
        timeout=100,
    )
    await worker.start()
    yield worker
    await worker.stop()


def register_dead_worker(r: redis.Redis, ns: str) -> None:
    """A node worker that died holding a job: its last ping was days ago."""
    r.sadd(key(ns, "workers"), "gone-host:9:slow")
    r.set(key(ns, "worker", "gone-host:9", "slow", "started"), "1795871144")
    r.set(
        key(ns, "worker", "ping", "gone-host:9"),
        '{"time":1795871145,"name":"gone-host:9","queues":"slow"}',
    )
    r.set(
        key(ns, "worker", "gone-host:9", "slow"),
        '{"run_at":"2026-11-28T13:05:44Z","queue":"slow","payload":{"class":"Slow","args":[1]}}',
    )


async def open_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(url)
    return page


async def test_the_dashboard_shows_every_peers_workers_and_repairs_the_fleet(
    browser: Browser,
    serve: Any,
    node: Peer,
    py_worker: Worker,
    redis_url: str,
    resque_namespace: str,
    resque_redis: redis.Redis,
    shots: Path,
) -> None:
    ns = resque_namespace
    node.call("work_start", namespace=ns, name="node-host:777", queues=["node"], timeout=100)
    ruby: Peer | None = None
    ruby_id = None
    if ruby_unavailable() is None:
        ruby = start_ruby(redis_url)
        ruby_id = ruby.call("register_worker", namespace=ns, queues=["reports"])
    else:
        print(f"no Ruby worker in this run: {ruby_unavailable()}")
    try:
        register_dead_worker(resque_redis, ns)
        async with Queue(redis_url, namespace=ns) as queue:
            await queue.enqueue("node", "fail", ["gateway timeout 504"])
            await queue.enqueue("py", "flaky", [42])
            await until(lambda: resque_redis.llen(key(ns, "failed")) == 2)
        served = serve()
        await served.ready()
        base = f"{served.url}/n/{ns}"

        page = await open_page(browser, f"{base}/workers")
        rows = page.locator("#workers tbody tr")
        await expect(page.locator('tr[data-worker="node-host:777"]')).to_contain_text("node")
        await expect(page.locator('tr[data-worker="py-host:4242"]')).to_contain_text("python")
        await expect(page.locator('tr[data-worker="py-host:4242"]')).to_contain_text("idle")
        await expect(page.locator('tr[data-worker="gone-host:9"]')).to_contain_text("dead")
        if ruby_id is not None:
            name = ":".join(str(ruby_id).split(":")[:2])
            await expect(page.locator(f'tr[data-worker="{name}"]')).to_contain_text("ruby")
        await page.screenshot(path=shots / "workers.png", full_page=True)

        # The dead worker is cleaned with a click (after the confirmation).
        await page.locator(
            'tr[data-worker="gone-host:9"] button[data-action="clean-worker"]'
        ).click()
        await expect(page.locator(".notice")).to_contain_text("cleaned worker gone-host:9")
        await expect(page.locator('tr[data-worker="gone-host:9"]')).to_have_count(0)
        assert await rows.count() >= 2

        # A failure is found with the search box, retried with a click, and runs.
        await page.goto(f"{base}/failed")
        await expect(page.locator("#failed tbody tr")).to_have_count(3)  # + the cleaned job
        await page.fill('#search input[name="q"]', "card declined")
        await page.click('#search button[type="submit"]')
        await expect(page.locator("#failed tbody tr")).to_have_count(1)
        await expect(page.locator("#failed tbody tr")).to_contain_text("flaky")
        await page.screenshot(path=shots / "failed-search.png", full_page=True)
        await page.locator('#failed button[data-action="retry-one"]').click()
        await expect(page.locator(".notice")).to_contain_text("retried 1 failed job(s)")
        await until(lambda: resque_redis.lrange(key(ns, "done"), 0, -1) == [b"42"])
        await page.goto(f"{base}/failed")
        await expect(page.locator("#failed tbody tr")).to_have_count(2)

        # A delayed job is run now with a click, though a scheduler holds the lock.
        async with Queue(redis_url, namespace=ns) as queue:
            await queue.enqueue_in(3_600_000, "py", "mark", [9])
        resque_redis.set(key(ns, "resque_scheduler_leader_lock"), "elsewhere:1")
        await page.goto(f"{base}/delayed")
        await expect(page.locator("#delayed tbody tr")).to_contain_text("mark")
        await page.locator('#delayed button[data-action="run-delayed-now"]').click()
        await expect(page.locator(".notice")).to_contain_text("enqueued mark on py now")
        await until(lambda: b"mark-9" in resque_redis.lrange(key(ns, "done"), 0, -1))
        await expect(page.locator("#delayed tbody")).to_contain_text("nothing delayed")

        # A POST without the CSRF token (as another site would send it) is refused.
        refused = await page.request.post(
            f"{base}/actions/clear-queue", form={"queue": "py", "confirm": "py"}
        )
        assert refused.status == 403

        # The overview updates itself (polling) when a job arrives.
        await page.goto(f"{base}/")
        await expect(page.locator("#queues")).not_to_contain_text("later")
        resque_redis.rpush(key(ns, "queue", "later"), '{"class":"mark","args":[1]}')
        resque_redis.sadd(key(ns, "queues"), "later")
        await expect(page.locator("#queues")).to_contain_text("later", timeout=5000)
        await page.screenshot(path=shots / "overview.png", full_page=True)
    finally:
        node.call("work_stop", name="node-host:777")
        if ruby is not None:
            ruby.close()


async def test_read_only_mode_hides_every_change(
    browser: Browser, serve: Any, make_queue: Any, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    queue = make_queue()
    await queue.enqueue("py", "mark", [1])
    await queue.enqueue_in(3_600_000, "py", "mark", [2])
    register_dead_worker(resque_redis, resque_namespace)
    served = serve(read_only=True)
    await served.ready()
    page = await open_page(browser, f"{served.url}/n/{resque_namespace}/")
    await expect(page.locator(".badge")).to_contain_text("read-only")
    for path in ("", "queues/py", "workers", "failed", "delayed", "locks"):
        await page.goto(f"{served.url}/n/{resque_namespace}/{path}")
        assert await page.locator("form[method=post], button[data-action]").count() == 0, path
