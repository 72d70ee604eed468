"""The dashboard over HTTP (ASGI, in process): pages and their JSON twins read the real
state, changes are POSTs that need the CSRF token, authentication and read-only mode
hold, and it works mounted under a prefix. The browser tests are in test_web_browser.py."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from pyresque import Queue, Worker
from tests.keys import key

pytest.importorskip("starlette", reason="the dashboard needs the web extra")
import httpx

from pyresque.web import Fleet, WebConfig, create_app

TOKEN = "a-token-of-sixteen-chars"
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app"


def boom(n: int) -> None:
    raise ValueError("card declined for order 42")


def also_boom(n: int) -> None:
    raise KeyError(f"no such user {n}")


@pytest.fixture
async def make_client(
    redis_url: str, resque_namespace: str
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """``make_client(**WebConfig options)``: an HTTP client of a dashboard on the test's
    namespace; both closed after the test."""
    made: list[tuple[httpx.AsyncClient, Any]] = []

    def make(**options: Any) -> httpx.AsyncClient:
        options.setdefault("fleets", (Fleet(resque_namespace),))
        app = create_app(WebConfig(redis=redis_url, **options))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web")
        made.append((client, app))
        return client

    yield make
    for client, app in made:
        await client.aclose()
        await app.state.dashboard.aclose()


async def fail_jobs(
    redis_url: str, ns: str, dialect: str, *jobs: tuple[str, str, list[Any]]
) -> None:
    async with Queue(redis_url, namespace=ns, dialect=dialect) as queue:
        for q, cls, args in jobs:
            await queue.enqueue(q, cls, args)
    worker = Worker(
        redis_url,
        sorted({q for q, _, _ in jobs}),
        {"Charge": boom, "Lookup": also_boom},
        namespace=ns,
        dialect=dialect,
        timeout=50,
    )
    await worker.run(burst=True)


def csrf_of(client: httpx.AsyncClient) -> str:
    token = client.cookies.get("pyresque_csrf")
    assert isinstance(token, str)
    return token


def hidden(page: str, name: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(rf'name="{name}" value="([^"]*)"', page)]


async def test_overview_and_its_json_show_queues_failed_delayed_and_the_leader(
    make_client: Any, make_queue: Any, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    queue = make_queue()
    await queue.enqueue("math", "add", [1, 2])
    await queue.enqueue("math", "add", [3, 4])
    await queue.enqueue_at(1_000, "math", "add", [5])  # long due
    resque_redis.set(key(resque_namespace, "resque_scheduler_leader_lock"), "sched-host:1")
    client = make_client()
    data = (await client.get(f"/api/n/{resque_namespace}/")).json()
    assert data["queues"] == [{"name": "math", "length": 2}]
    assert data["delayed"]["jobs"] == 1 and data["delayed"]["due"] == 1
    assert data["leader"] == "sched-host:1"
    assert data["redis"]["redis_version"]
    page = await client.get(f"/n/{resque_namespace}/")
    assert page.status_code == 200
    assert 'href="queues/math"' in page.text and "sched-host:1" in page.text


async def test_failed_search_filters_by_text_queue_class_and_exception_across_dialects(
    make_client: Any, redis_url: str, resque_namespace: str
) -> None:
    ns = resque_namespace
    await fail_jobs(redis_url, ns, "node", ("pay", "Charge", [1]), ("pay", "Charge", [2]))
    await fail_jobs(redis_url, ns, "ruby", ("users", "Lookup", [7]))
    client = make_client()

    async def found(**query: str) -> dict[str, Any]:
        reply = await client.get(f"/api/n/{ns}/failed", params=query)
        assert reply.status_code == 200
        found: dict[str, Any] = reply.json()
        return found

    assert (await found())["page"]["total"] == 3
    by_text = await found(q="no such user")
    assert [e["class"] for e in by_text["entries"]] == ["Lookup"]
    assert by_text["entries"][0]["exception"] == "KeyError"
    assert (await found(queue="pay"))["page"]["total"] == 2
    assert (await found(exception="ValueError", **{"class": "Charge"}))["page"]["total"] == 2
    assert (await found(exception="ValueError", queue="users"))["page"]["total"] == 0
    second = await found(queue="pay", offset="1", limit="1")
    assert second["page"] == {"offset": 1, "limit": 1, "total": 2, "previous": 0, "next": None}
    assert second["entries"][0]["args"] == [2]


async def test_retrying_a_failed_entry_finds_it_by_value_after_the_list_moved(
    make_client: Any, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    await fail_jobs(redis_url, ns, "node", ("pay", "Charge", [1]), ("pay", "Charge", [2]))
    client = make_client()
    page = (await client.get(f"/n/{ns}/failed")).text
    listed = (await client.get(f"/api/n/{ns}/failed")).json()["entries"]
    second = [e["token"] for e in listed if e["args"] == [2]]
    assert second[0] in hidden(page, "selected")
    resque_redis.lpop(key(ns, "failed"))  # someone else removed the first entry meanwhile
    reply = await client.post(
        f"/n/{ns}/actions/retry-failed", data={"csrf": csrf_of(client), "one": second[0]}
    )
    assert reply.status_code == 303 and "retried+1" in reply.headers["location"]
    assert resque_redis.llen(key(ns, "failed")) == 0
    assert resque_redis.lrange(key(ns, "queue", "pay"), 0, -1) == [
        b'{"class":"Charge","queue":"pay","args":[2]}'
    ]


async def test_retry_all_matching_retries_only_what_the_filter_matches(
    make_client: Any, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    await fail_jobs(redis_url, ns, "node", ("pay", "Charge", [1]), ("users", "Lookup", [3]))
    client = make_client()
    await client.get(f"/n/{ns}/failed")
    reply = await client.post(
        f"/api/n/{ns}/actions/retry-all-failed",
        json={"exception": "KeyError"},
        headers={"X-CSRF-Token": csrf_of(client)},
    )
    assert reply.json() == {"done": "retried 1 failed job(s)"}
    assert resque_redis.llen(key(ns, "queue", "users")) == 1
    assert resque_redis.llen(key(ns, "queue", "pay")) == 0
    assert resque_redis.llen(key(ns, "failed")) == 1


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    make_client: Any, make_queue: Any, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    await make_queue().enqueue("math", "add", [1])
    client = make_client()
    await client.get(f"/n/{resque_namespace}/")  # the cookie is set
    fields = {"queue": "math", "confirm": "math"}
    refused = await client.post(f"/n/{resque_namespace}/actions/clear-queue", data=fields)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = await client.post(
        f"/n/{resque_namespace}/actions/clear-queue", data={**fields, "csrf": "guess"}
    )
    assert wrong.status_code == 403
    assert resque_redis.llen(key(resque_namespace, "queue", "math")) == 1
    done = await client.post(
        f"/n/{resque_namespace}/actions/clear-queue", data={**fields, "csrf": csrf_of(client)}
    )
    assert done.status_code == 303
    assert resque_redis.exists(key(resque_namespace, "queue", "math")) == 0


async def test_clearing_a_queue_needs_its_name_typed(
    make_client: Any, make_queue: Any, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    await make_queue().enqueue("math", "add", [1])
    client = make_client()
    await client.get(f"/n/{resque_namespace}/")
    reply = await client.post(
        f"/api/n/{resque_namespace}/actions/clear-queue",
        json={"queue": "math", "confirm": "mat"},
        headers={"X-CSRF-Token": csrf_of(client)},
    )
    assert reply.status_code == 400 and "type the queue's name" in reply.json()["error"]
    assert resque_redis.llen(key(resque_namespace, "queue", "math")) == 1


async def test_read_only_mode_offers_no_change_and_refuses_every_post(
    make_client: Any, make_queue: Any, redis_url: str, resque_namespace: str
) -> None:
    await make_queue().enqueue("math", "add", [1])
    await fail_jobs(redis_url, resque_namespace, "node", ("pay", "Charge", [1]))
    client = make_client(read_only=True)
    for page in ("", "queues/math", "workers", "failed", "delayed", "locks"):
        text = (await client.get(f"/n/{resque_namespace}/{page}")).text
        assert 'method="post"' not in text, page
    refused = await client.post(
        f"/api/n/{resque_namespace}/actions/retry-all-failed",
        json={},
        headers={"X-CSRF-Token": csrf_of(client)},
    )
    assert refused.status_code == 403 and refused.json() == {"error": "the dashboard is read-only"}


async def test_a_token_guards_pages_api_and_changes(
    make_client: Any, make_queue: Any, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    await make_queue().enqueue("math", "add", [1])
    client = make_client(token=TOKEN)
    api = f"/api/n/{resque_namespace}/"
    assert (await client.get(api)).status_code == 401
    assert (
        await client.get(api, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
    ).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get(api, headers=bearer)).status_code == 200
    # A Bearer header is no ambient credential: its changes need no CSRF token.
    done = await client.post(
        f"/api/n/{resque_namespace}/actions/clear-queue",
        json={"queue": "math", "confirm": "math"},
        headers=bearer,
    )
    assert done.status_code == 200
    assert resque_redis.exists(key(resque_namespace, "queue", "math")) == 0
    # A browser is sent to sign in, and then holds a session cookie.
    page = await client.get(f"/n/{resque_namespace}/workers")
    assert page.status_code == 303
    assert page.headers["location"] == f"/login?next=/n/{resque_namespace}/workers"
    form = await client.get(page.headers["location"])
    assert form.status_code == 200
    bad = await client.post(
        page.headers["location"], data={"csrf": csrf_of(client), "token": "nope"}
    )
    assert bad.status_code == 401
    signed = await client.post(
        page.headers["location"], data={"csrf": csrf_of(client), "token": TOKEN}
    )
    assert signed.status_code == 303
    assert signed.headers["location"] == f"/n/{resque_namespace}/workers"
    assert (await client.get(signed.headers["location"])).status_code == 200


async def test_basic_authentication(make_client: Any, resque_namespace: str) -> None:
    client = make_client(username="ops", password="s3cret-pass")
    page = f"/n/{resque_namespace}/"
    refused = await client.get(page)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert (await client.get(page, auth=("ops", "wrong"))).status_code == 401
    assert (await client.get(page, auth=("ops", "s3cret-pass"))).status_code == 200


async def test_only_a_stale_or_dead_worker_can_be_cleaned(
    make_client: Any,
    make_worker: Any,
    resque_redis: redis.Redis,
    resque_namespace: str,
) -> None:
    ns = resque_namespace
    # A node worker that last pinged days ago, holding a job.
    resque_redis.sadd(key(ns, "workers"), "gone-host:9:slow")
    resque_redis.set(key(ns, "worker", "gone-host:9", "slow", "started"), "1795871144")
    resque_redis.set(
        key(ns, "worker", "ping", "gone-host:9"),
        '{"time":1795871145,"name":"gone-host:9","queues":"slow"}',
    )
    resque_redis.set(
        key(ns, "worker", "gone-host:9", "slow"),
        '{"run_at":"2026-11-28T13:05:44Z","queue":"slow","payload":{"class":"Slow","args":[1]}}',
    )
    live = make_worker("work", timeout=100)
    await live.start()
    client = make_client()
    listed = (await client.get(f"/api/n/{ns}/workers")).json()["workers"]
    states = {w["name"]: (w["state"], w["kind"]) for w in listed}
    assert states["gone-host:9"] == ("dead", "node")
    assert states[live.name] == ("idle", "python")
    page = (await client.get(f"/n/{ns}/workers")).text
    assert hidden(page, "worker") == ["gone-host:9"]  # the only clean button
    csrf = {"X-CSRF-Token": csrf_of(client)}
    refused = await client.post(
        f"/api/n/{ns}/actions/clean-worker", json={"worker": live.name}, headers=csrf
    )
    assert refused.status_code == 409 and "idle" in refused.json()["error"]
    done = await client.post(
        f"/api/n/{ns}/actions/clean-worker", json={"worker": "gone-host:9"}, headers=csrf
    )
    assert done.status_code == 200
    failed = (await client.get(f"/api/n/{ns}/failed")).json()["entries"]
    assert [(e["class"], e["worker"]) for e in failed] == [("Slow", "gone-host:9")]
    assert not resque_redis.sismember(key(ns, "workers"), "gone-host:9:slow")


async def test_a_queue_page_reads_one_window_and_shows_a_corrupt_item(
    make_client: Any, make_queue: Any, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    queue = make_queue()
    for n in range(5):
        await queue.enqueue("math", "add", [n])
    resque_redis.rpush(key(resque_namespace, "queue", "math"), b"not json \xff")
    client = make_client()
    data = (await client.get(f"/api/n/{resque_namespace}/queues/math?offset=4&limit=5")).json()
    assert data["page"]["total"] == 6 and data["page"]["previous"] == 0
    assert [j["args"] for j in data["jobs"]] == [[4], None]
    assert data["jobs"][1]["raw"] == "not json \\xff" and data["jobs"][1]["problem"]


async def test_several_namespaces_each_with_its_dialect(
    make_client: Any, redis_url: str, resque_namespace: str
) -> None:
    other = resque_namespace + "-ruby"
    try:
        async with Queue(redis_url, namespace=other, dialect="ruby") as ruby:
            await ruby.enqueue("reports", "Daily", ["2026-12-01"])
        client = make_client(fleets=(Fleet(resque_namespace), Fleet(other, "ruby")))
        page = (await client.get(f"/n/{other}/")).text
        assert f"{other} (ruby)" in page and 'href="queues/reports"' in page
        assert (await client.get("/n/elsewhere/")).status_code == 404
    finally:
        with redis.Redis.from_url(redis_url) as r:
            r.delete(f"{other}:queue:reports", f"{other}:queues")


async def test_mounted_under_a_prefix_links_and_redirects_keep_it(
    redis_url: str, resque_namespace: str
) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    dashboard = create_app(WebConfig(redis=redis_url, fleets=(Fleet(resque_namespace),)))
    outer = Starlette(routes=[Mount("/ops/resque", app=dashboard)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outer), base_url="http://web"
    ) as client:
        home = await client.get("/ops/resque/")
        assert home.headers["location"] == f"/ops/resque/n/{resque_namespace}/"
        page = await client.get(home.headers["location"])
        assert page.status_code == 200
        assert 'href="/ops/resque/static/style.css"' in page.text
        assert (await client.get("/ops/resque/static/app.js")).status_code == 200
    await dashboard.state.dashboard.aclose()


async def test_a_delayed_job_runs_now_while_a_scheduler_holds_the_lock(
    make_client: Any, make_queue: Any, resque_redis: redis.Redis, resque_namespace: str
) -> None:
    ns = resque_namespace
    queue = make_queue()
    await queue.enqueue_in(3_600_000, "mail", "Remind", ["ada"])
    await queue.enqueue_in(3_600_000, "mail", "Remind", ["bob"])
    resque_redis.set(key(ns, "resque_scheduler_leader_lock"), "elsewhere:1")
    client = make_client()
    listed = (await client.get(f"/api/n/{ns}/delayed")).json()
    (slot,) = listed["due"]
    ada = next(j for j in slot["jobs"] if j["args"] == ["ada"])
    csrf = {"X-CSRF-Token": csrf_of(client)}
    done = await client.post(
        f"/api/n/{ns}/actions/run-delayed-now", json={"job": ada["token"]}, headers=csrf
    )
    assert done.json() == {"done": "enqueued Remind on mail now"}
    assert resque_redis.lrange(key(ns, "queue", "mail"), 0, -1) == [
        b'{"class":"Remind","queue":"mail","args":["ada"]}'
    ]
    again = await client.post(
        f"/api/n/{ns}/actions/run-delayed-now", json={"job": ada["token"]}, headers=csrf
    )
    assert again.status_code == 409
    left = (await client.get(f"/api/n/{ns}/delayed")).json()["due"][0]["jobs"]
    assert [j["args"] for j in left] == [["bob"]]
    removed = await client.post(
        f"/api/n/{ns}/actions/remove-delayed", json={"job": left[0]["token"]}, headers=csrf
    )
    assert removed.status_code == 200
    assert (await client.get(f"/api/n/{ns}/delayed")).json()["due"] == []


async def test_clearing_the_failed_list_needs_clear_typed(
    make_client: Any, redis_url: str, resque_namespace: str, resque_redis: redis.Redis
) -> None:
    ns = resque_namespace
    await fail_jobs(redis_url, ns, "node", ("pay", "Charge", [1]), ("pay", "Charge", [2]))
    client = make_client()
    await client.get(f"/n/{ns}/failed")
    csrf = {"X-CSRF-Token": csrf_of(client)}
    refused = await client.post(f"/api/n/{ns}/actions/remove-all-failed", json={}, headers=csrf)
    assert refused.status_code == 400
    assert resque_redis.llen(key(ns, "failed")) == 2
    done = await client.post(
        f"/api/n/{ns}/actions/remove-all-failed", json={"confirm": "clear"}, headers=csrf
    )
    assert done.json() == {"done": "removed 2 failed job(s)"}
    assert resque_redis.llen(key(ns, "failed")) == 0


async def test_the_tasks_page_shows_an_apps_periodic_and_cron_tasks(
    make_client: Any, make_queue: Any, resque_namespace: str
) -> None:
    await make_queue().enqueue_in(60_000, "periodic", "heartbeat", [{}])
    client = make_client(app_path=str(EXAMPLE_APP))
    found = (await client.get(f"/api/n/{resque_namespace}/tasks")).json()
    tasks = {t["name"]: t for t in found["tasks"]}
    assert tasks["heartbeat"]["frequency"] == 1000
    assert len(tasks["heartbeat"]["delayed_at"]) == 1
    assert tasks["signup"]["inputs"]["email"] == {"required": True}
    cron = [t for t in tasks.values() if t["schedule"]]
    assert cron and all(t["next_cron_at"] for t in cron)
    page = (await client.get(f"/n/{resque_namespace}/tasks")).text
    assert 'data-task="heartbeat"' in page and "every 1.0 s" in page
    assert (await make_client().get(f"/api/n/{resque_namespace}/tasks")).status_code == 404


async def test_each_namespace_has_its_prometheus_metrics(
    make_client: Any, make_queue: Any, resque_namespace: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    queue = make_queue()
    for n in range(3):
        await queue.enqueue("math", "add", [n])
    client = make_client()
    reply = await client.get(f"/n/{resque_namespace}/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, s.labels.get("queue")): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }
    assert samples[("resque_jobs_in_queue", "math")] == 3
    assert samples[("resque_up", None)] == 1
