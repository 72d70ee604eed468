"""Drivers run command plans (:mod:`pyresque.protocol.plan`) against a Redis server.

* :class:`LeanDriver`: pyresque's own multiplexed connection, used when given a URL or
  :class:`~pyresque.connection.settings.Settings`.
* :class:`RedisPyDriver`: a ``redis.asyncio`` client you already have (TLS settings,
  Sentinel pools and so on stay yours).
* :class:`LeanSyncDriver`: pooled blocking connections of pyresque's own, for
  :mod:`pyresque.sync` given a URL or Settings.
* :class:`RedisPySyncDriver`: a blocking ``redis.Redis`` client you already have.

All four hand plans the same raw replies, so every plan runs unchanged on each.

pyresque's own drivers never re-send a command, and give a connection up when its
server answers like a former master (``READONLY``, ``MASTERDOWN``, ``NOREPLICAS``): the
next command opens a new one, which asks the Sentinels (or DNS) where the master is now.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio
from redis import exceptions as rx
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pyresque.connection.blocking import BlockingConnection, BlockingPool
from pyresque.connection.resp import RespConnection
from pyresque.connection.settings import Settings
from pyresque.connection.sockets import FAILOVER_REPLIES, NoReplyError, block_seconds
from pyresque.errors import ConfigurationError, ConnectionFailedError, RedisReplyError
from pyresque.protocol.plan import (
    Arg,
    Batch,
    Call,
    Eval,
    Plan,
    Segment,
    Step,
    count_args,
    flatten,
    run_plan_sync,
)
from pyresque.protocol.replies import describe, reply_error

__all__ = [
    "AsyncDriver",
    "LeanDriver",
    "LeanSyncDriver",
    "RedisPyDriver",
    "RedisPySyncDriver",
    "SyncDriver",
    "open_async_driver",
    "open_sync_driver",
    "replication",
    "run_plan",
]

T = TypeVar("T")


def _eval_args(step: Eval) -> tuple[Arg | Segment, ...]:
    return (step.script.evalsha, count_args(step.keys), *step.keys, *step.args)


def _flat_eval_args(step: Eval) -> tuple[Arg, ...]:
    """For redis-py, which knows nothing of segments."""
    return flatten(_eval_args(step))


def _scripts(step: Step) -> list[Eval]:
    if isinstance(step, Eval):
        return [step]
    if isinstance(step, Batch):
        return [s for s in step.steps if isinstance(s, Eval)]
    return []


def _commands(step: Call | Eval) -> tuple[Arg | Segment, ...]:
    return step.args if isinstance(step, Call) else _eval_args(step)


def _wire(step: Step, loaded: set[str]) -> tuple[list[Sequence[Arg | Segment]], int]:
    """The commands that run ``step`` on a connection, and how many script loads lead."""
    loads: list[Sequence[Arg | Segment]] = []
    for ev in _scripts(step):
        if ev.script.sha not in loaded:
            loads.append(("SCRIPT", "LOAD", ev.script.source))
            # Marked at once: commands sent after this one on the socket run after the
            # load, so concurrent callers need not load it again.
            loaded.add(ev.script.sha)
    if isinstance(step, Batch):
        body = [_commands(s) for s in step.steps]
        if step.atomic:
            body = [("MULTI",), *body, ("EXEC",)]
    else:
        body = [_commands(step)]
    return [*loads, *body], len(loads)


def _failure(step: Call | Eval, reply: Any) -> Exception | None:
    """The exception for an error reply to ``step`` (naming its operation and key)."""
    err = RespConnection.error(reply)
    if err is None or isinstance(err, NoScriptError):
        return err
    return reply_error(step, str(err))


def _result(step: Step, replies: list[Any]) -> Any:
    """What a plan is sent for ``step``, from the raw replies of its commands."""
    if isinstance(step, Batch):
        if step.atomic:
            err = _failure(Call("MULTI"), replies[0])
            for sub, reply in zip(step.steps, replies[1:-1], strict=True):
                # A queued command refused: EXEC aborts as a whole.
                err = err or _failure(sub, reply)
            err = err or _failure(Call("EXEC"), replies[-1])
            if err is not None:
                raise err
            result = replies[-1]
            if result is None:
                return None  # WATCH tripped
            replies = list(result)
        for sub, reply in zip(step.steps, replies, strict=True):
            err = _failure(sub, reply)
            if err is not None:
                raise err
        return replies
    err = _failure(step, replies[-1])
    if err is not None:
        raise err
    return replies[-1]


_RELOAD = object()


def _operation(step: Step) -> str:
    """``step`` in words, for a reply timeout's message."""
    if isinstance(step, Batch):
        first = _operation(step.steps[0]) if step.steps else "nothing"
        return f"a batch of {len(step.steps)} commands from {first}"
    operation, key = describe(step)
    if key is None:
        return operation
    return f"{operation} on {key}" if isinstance(step, Eval) else f"{operation} {key}"


def _from_former_master(exc: ResponseError) -> bool:
    """An error reply saying the server no longer takes writes as a master."""
    return str(exc).startswith(FAILOVER_REPLIES)


def _lone_eval_reply(step: Eval, reply: Any, loaded: set[str]) -> Any:
    """The reply to an EVALSHA sent alone, or ``_RELOAD`` if the server lost the script."""
    err = _failure(step, reply)
    if err is None:
        return reply
    if not isinstance(err, NoScriptError):
        raise err
    loaded.clear()  # server restarted or flushed: nothing ran; load and go again
    return _RELOAD


class AsyncDriver:
    """Runs one step per round trip."""

    async def execute(self, step: Step) -> Any:
        """Run one step (a command, a script or a batch) and return its raw reply;
        an error reply is raised (named by :mod:`pyresque.protocol.replies`)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the connections this driver opened (a client you gave stays open)."""
        raise NotImplementedError

    async def ping(self) -> None:
        """Check that Redis answers."""
        await self.execute(Call("PING"))

    def after_fork(self) -> None:
        """In a forked child: forget inherited connections without closing them (they
        are the parent's); the next call connects anew."""

    async def open_blocking(
        self,
    ) -> tuple[Callable[..., Awaitable[Any]], Callable[[], Awaitable[None]]]:
        """A ``(call, close)`` pair for blocking commands, off the shared connection."""
        raise NotImplementedError


async def run_plan(plan: Plan[T], driver: AsyncDriver) -> T:
    """Drive ``plan`` to its result; a Redis error is thrown into it at its ``yield``."""
    try:
        step = next(plan)
        while True:
            try:
                reply = await driver.execute(step)
            except Exception as exc:
                step = plan.throw(exc)
            else:
                step = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


class LeanDriver(AsyncDriver):
    """pyresque's own connection: one socket, requests pipelined as they come."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._conn: RespConnection | None = None
        self._connecting: asyncio.Lock | None = None
        self._tried = 0  # connection attempts finished
        self._failure: ConnectionFailedError | None = None

    async def connection(self) -> RespConnection:
        """The open connection, made (once, whoever asks) when there is none."""
        conn = self._conn
        if conn is not None and conn.is_open:
            return conn
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        tried = self._tried
        async with self._connecting:
            conn = self._conn
            if conn is not None and conn.is_open:
                return conn
            if self._tried != tried and self._failure is not None:
                # Another caller tried while this one waited, and failed: the same answer
                # now, rather than one connect timeout per waiting caller.
                raise ConnectionFailedError(str(self._failure)) from self._failure
            try:
                conn = self._conn = await RespConnection.open(self.settings)
            except ConnectionFailedError as exc:
                self._failure = exc
                raise
            else:
                self._failure = None
            finally:
                self._tried += 1
            return conn

    async def execute(self, step: Step) -> Any:
        conn = self._conn
        if conn is None or not conn.is_open:
            conn = await self.connection()
        try:
            if type(step) is Eval and step.script.sha in conn.loaded_scripts:
                # The hot path (every enqueue): one EVALSHA, no list building.
                reply = _lone_eval_reply(
                    step, await conn.send_one(_eval_args(step)), conn.loaded_scripts
                )
                if reply is not _RELOAD:
                    return reply
            for attempt in (1, 2):
                try:
                    return await self._send(conn, step)
                except NoScriptError:
                    # The server lost its scripts (restart, SCRIPT FLUSH): nothing ran; load
                    # again.
                    conn.loaded_scripts.clear()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        except NoReplyError as exc:
            raise exc.naming(_operation(step)) from None
        except RedisReplyError as exc:
            if _from_former_master(exc):
                conn.retire()  # the next command connects anew; these in flight finish
            raise

    async def _send(self, conn: RespConnection, step: Step) -> Any:
        commands, loads = _wire(step, conn.loaded_scripts)
        if len(commands) == 1:
            replies = [await conn.send(commands, last_only=True)]
        else:
            replies = await conn.send(commands)
        return _result(step, replies[loads:])

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.aclose()

    def after_fork(self) -> None:
        # Dropped, not closed: closing would shut the parent's transport down.
        self._conn = None
        self._connecting = None
        self._failure = None

    async def open_blocking(
        self,
    ) -> tuple[Callable[..., Awaitable[Any]], Callable[[], Awaitable[None]]]:
        # A blocked command would hold up everything pipelined behind it: own socket.
        conn = await RespConnection.open(self.settings)
        reply_timeout = self.settings.socket_timeout

        async def call(*args: Any) -> Any:
            # A blocking command may take its block time before answering, then as long as
            # any other command.
            block = block_seconds(args)
            timeout = None if block is None or reply_timeout is None else reply_timeout + block
            try:
                return await conn.call(*args, timeout=timeout)
            except ResponseError as exc:
                if _from_former_master(exc):
                    conn.close()  # the next call fails; its caller opens a new connection
                raise

        return call, conn.aclose


def _check_client(client: redis.Redis | redis.asyncio.Redis) -> None:
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("decode_responses"):
        raise ConfigurationError(
            "pyresque needs a Redis client with decode_responses=False: "
            "resque values are compared byte for byte"
        )


def _wrap_connection_error(exc: Exception) -> ConnectionFailedError:
    # redis-py does not say whether the command reached the server: assume it may have.
    return ConnectionFailedError(f"Redis connection failed: {exc}", maybe_sent=True)


# redis-py strips the code from the replies it has a class for: put it back.
_CODES: tuple[tuple[type[Exception], str], ...] = (
    (rx.BusyLoadingError, "LOADING"),
    (rx.OutOfMemoryError, "OOM"),
    (rx.ReadOnlyError, "READONLY"),
    (rx.MasterDownError, "MASTERDOWN"),
    (rx.TryAgainError, "TRYAGAIN"),
    (rx.NoPermissionError, "NOPERM"),
    (rx.ExecAbortError, "EXECABORT"),
)


def _redis_py_error(step: Call | Eval, exc: Exception) -> RedisReplyError:
    message = str(exc)
    for cls, code in _CODES:
        if isinstance(exc, cls):
            message = f"{code} {message}"
            break
    return reply_error(step, message)


def _batch_replies(step: Batch, replies: list[Any]) -> list[Any]:
    for sub, reply in zip(step.steps, replies, strict=True):
        if isinstance(reply, rx.BusyLoadingError | ResponseError):
            raise _redis_py_error(sub, reply)
    return replies


_PIPELINE_ERROR = re.compile(r"^Command # (\d+) \(.*?\) of pipeline caused error: (.*)$", re.S)


def _step_error(step: Step, exc: Exception) -> RedisReplyError:
    """For an error redis-py raised: a transaction's queued-command error names the
    command by its number, an annotation this takes off again."""
    if not isinstance(step, Batch):
        return _redis_py_error(step, exc)
    found = _PIPELINE_ERROR.match(str(exc))
    if found is None:
        return _redis_py_error(step.steps[0], exc)
    index = min(int(found[1]), len(step.steps)) - 1
    return _redis_py_error(step.steps[index], type(exc)(found[2]))


class RedisPyDriver(AsyncDriver):
    """Runs plans on an existing ``redis.asyncio.Redis`` (its pool; not closed by us)."""

    def __init__(self, client: redis.asyncio.Redis, *, owned: bool = False) -> None:
        _check_client(client)
        # Our own client object on the caller's pool, with redis-py's reply conversions
        # turned off so plans see raw replies (the caller's client is left untouched).
        self._client = redis.asyncio.Redis(connection_pool=client.connection_pool)
        self._client.response_callbacks.clear()
        self._command: Callable[..., Awaitable[Any]] = self._client.execute_command
        self._owned = owned
        self._loaded: set[str] = set()

    async def execute(self, step: Step) -> Any:
        try:
            return await self._execute(step)
        except RedisReplyError:
            raise
        except (rx.BusyLoadingError, ResponseError) as exc:  # LOADING is a ConnectionError
            raise _step_error(step, exc) from None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise _wrap_connection_error(exc) from exc

    async def _execute(self, step: Step) -> Any:
        command = self._command
        if isinstance(step, Call):
            return await command(*step.args)
        if isinstance(step, Eval):
            try:
                return await command(*_flat_eval_args(step))
            except NoScriptError:
                await command("SCRIPT", "LOAD", step.script.source)
                return await command(*_flat_eval_args(step))
        for ev in _scripts(step):
            if ev.script.sha not in self._loaded:
                await command("SCRIPT", "LOAD", ev.script.source)
                self._loaded.add(ev.script.sha)
        async with self._client.pipeline(transaction=step.atomic) as pipe:
            queue: Callable[..., Any] = pipe.execute_command
            for s in step.steps:
                queue(*flatten(_commands(s)))
            return _batch_replies(step, await pipe.execute(raise_on_error=False))

    async def aclose(self) -> None:
        if self._owned:
            await self._client.connection_pool.aclose()

    async def open_blocking(
        self,
    ) -> tuple[Callable[..., Awaitable[Any]], Callable[[], Awaitable[None]]]:
        # Each blocking call borrows a pool connection for its duration (the caller keeps
        # it shorter than the pool's socket timeout).
        async def call(*args: Any) -> Any:
            try:
                return await self._command(*args)
            except (RedisConnectionError, RedisTimeoutError) as exc:
                raise _wrap_connection_error(exc) from exc

        async def close() -> None:
            return None

        return call, close


class SyncDriver:
    """Runs plans, blocking; safe to share between threads."""

    def run(self, plan: Plan[T]) -> T:
        """Drive a plan to its result, blocking."""
        return run_plan_sync(plan, self.execute)

    def ping(self) -> None:
        """Check that Redis answers."""
        self.execute(Call("PING"))

    def execute(self, step: Step) -> Any:
        """Run one step and return its raw reply; an error reply is raised."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connections this driver opened (a client you gave stays open)."""
        raise NotImplementedError


class LeanSyncDriver(SyncDriver):
    """pyresque's own blocking connections, one per concurrent caller."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = BlockingPool(settings)

    def execute(self, step: Step) -> Any:
        conn = self._pool.acquire()
        try:
            result = self._execute(conn, step)
        except ResponseError as exc:
            if _from_former_master(exc):
                conn.close()
                self._pool.close()  # the idle ones talk to the same former master
            else:
                self._pool.release(conn)  # an error reply: the socket is in step
            raise
        except NoReplyError as exc:  # closed already
            raise exc.naming(_operation(step)) from None
        except BaseException:
            conn.close()  # dropped, or interrupted between a write and its replies
            raise
        self._pool.release(conn)
        return result

    def _execute(self, conn: BlockingConnection, step: Step) -> Any:
        if type(step) is Eval and step.script.sha in conn.loaded_scripts:
            reply = _lone_eval_reply(step, conn.send((_eval_args(step),))[0], conn.loaded_scripts)
            if reply is not _RELOAD:
                return reply
        for attempt in (1, 2):
            commands, loads = _wire(step, conn.loaded_scripts)
            try:
                return _result(step, conn.send(commands)[loads:])
            except NoScriptError:
                conn.loaded_scripts.clear()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._pool.close()


class RedisPySyncDriver(SyncDriver):
    """Runs plans on a blocking ``redis.Redis`` (its pool; not closed by us)."""

    def __init__(self, client: redis.Redis) -> None:
        _check_client(client)
        self._client = redis.Redis(connection_pool=client.connection_pool)
        self._client.response_callbacks.clear()
        self._command: Callable[..., Any] = self._client.execute_command
        self._loaded: set[str] = set()

    def execute(self, step: Step) -> Any:
        try:
            return self._execute(step)
        except RedisReplyError:
            raise
        except (rx.BusyLoadingError, ResponseError) as exc:  # LOADING is a ConnectionError
            raise _step_error(step, exc) from None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise _wrap_connection_error(exc) from exc

    def _execute(self, step: Step) -> Any:
        command = self._command
        if isinstance(step, Call):
            return command(*step.args)
        if isinstance(step, Eval):
            try:
                return command(*_flat_eval_args(step))
            except NoScriptError:
                command("SCRIPT", "LOAD", step.script.source)
                return command(*_flat_eval_args(step))
        for ev in _scripts(step):
            if ev.script.sha not in self._loaded:
                command("SCRIPT", "LOAD", ev.script.source)
                self._loaded.add(ev.script.sha)
        with self._client.pipeline(transaction=step.atomic) as pipe:
            queue: Callable[..., Any] = pipe.execute_command
            for s in step.steps:
                queue(*flatten(_commands(s)))
            return _batch_replies(step, pipe.execute(raise_on_error=False))

    def close(self) -> None:
        return None


def replication(driver: AsyncDriver | SyncDriver) -> dict[str, int]:
    """The Context options that make a Queue on ``driver`` wait for replicas
    (``wait_replicas``/``wait_timeout`` of the connection's settings; a client you gave
    has none)."""
    settings = getattr(driver, "settings", None)
    if not isinstance(settings, Settings) or not settings.wait_replicas:
        return {}
    return {
        "replicas": settings.wait_replicas,
        "replica_timeout_ms": max(1, round(settings.wait_timeout * 1000)),
    }


def open_async_driver(target: str | Settings | redis.asyncio.Redis | None) -> AsyncDriver:
    """A driver for a URL or :class:`Settings` (pyresque's own connection) or an existing
    asyncio client."""
    from pyresque.connection.settings import default_url

    if target is None:
        target = default_url()
    if isinstance(target, str):
        return LeanDriver(Settings.from_url(target))
    if isinstance(target, Settings):
        return LeanDriver(target)
    if isinstance(target, redis.asyncio.Redis):
        return RedisPyDriver(target)
    if isinstance(target, redis.Redis):
        raise ConfigurationError(
            "a blocking redis.Redis client was given to the async API; "
            "use pyresque.sync.Queue, or pass a redis.asyncio.Redis"
        )
    raise ConfigurationError(
        "expected a Redis URL, Settings or a redis.asyncio.Redis client, "
        f"not {type(target).__name__}"
    )


def open_sync_driver(target: str | Settings | redis.Redis | None) -> SyncDriver:
    """A blocking driver for a URL, :class:`Settings` or an existing ``redis.Redis``."""
    from pyresque.connection.settings import default_url

    if target is None:
        target = default_url()
    if isinstance(target, str):
        return LeanSyncDriver(Settings.from_url(target))
    if isinstance(target, Settings):
        return LeanSyncDriver(target)
    if isinstance(target, redis.Redis):
        return RedisPySyncDriver(target)
    raise ConfigurationError(
        f"expected a Redis URL, Settings or a redis.Redis client, not {type(target).__name__}"
    )
