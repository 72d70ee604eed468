"""Wakes idle workers the moment a queue they watch gets a job.

node-resque and Ruby resque poll: an idle worker sleeps ``timeout`` (5 s) between looks.
pyresque's idle workers instead wait on a :class:`Waker`, which keeps one blocking
connection per watched queue running ``BLMOVE q q RIGHT RIGHT``: that blocks until the
list is non-empty and then moves its last item to where it already is, so it *looks*
without taking anything. Woken workers then take the job with the usual atomic script, so
a job is never held only in a worker's memory.

One Waker serves every worker of a process on the same Redis (MultiWorker shares it);
the poll interval stays as a fallback when Redis cannot block (a dropped connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pyresque.errors import ConnectionFailedError

__all__ = ["BlockingCall", "Waker"]

BlockingCall = Callable[..., Awaitable[Any]]


class _Watch:
    __slots__ = ("call", "close", "task", "waiters")

    def __init__(self) -> None:
        self.waiters: set[asyncio.Future[None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.call: BlockingCall | None = None
        self.close: Callable[[], Awaitable[None]] | None = None


class Waker:
    """``await waker.wait(queue_keys, timeout_s)`` returns when one of the keys may hold
    a job (or after the timeout)."""

    def __init__(
        self,
        open_channel: Callable[[], Awaitable[tuple[BlockingCall, Callable[[], Awaitable[None]]]]],
        *,
        block_seconds: float = 2.0,
    ) -> None:
        self._open = open_channel
        self._block = block_seconds
        self._watches: dict[str, _Watch] = {}
        self._closed = False

    async def wait(self, keys: Sequence[str], timeout: float) -> bool:
        """True when woken by a job, False on timeout."""
        if self._closed or not keys:
            await asyncio.sleep(timeout)
            return False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            watch = self._watches.setdefault(key, _Watch())
            watch.waiters.add(future)
            if watch.task is None or watch.task.done():
                watch.task = asyncio.create_task(self._run(key, watch), name=f"pyresque-wake:{key}")
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(future)
            return True
        except TimeoutError:
            return False
        finally:
            for key in keys:
                found = self._watches.get(key)
                if found is not None:
                    found.waiters.discard(future)
            if not future.done():
                future.cancel()

    async def _run(self, key: str, watch: _Watch) -> None:
        backoff = 0.05
        while watch.waiters and not self._closed:
            try:
                if watch.call is None:
                    watch.call, watch.close = await self._open()
                found = await watch.call("BLMOVE", key, key, "RIGHT", "RIGHT", self._block)
            except ConnectionFailedError:
                await self._drop(watch)
                await asyncio.sleep(backoff)  # waiters still time out and poll meanwhile
                backoff = min(backoff * 2, 2.0)
                continue
            except Exception:
                # An error reply (the key is not a list; a Redis without BLMOVE): wake the
                # waiters so their own step meets, and reports, the same error.
                self._wake(watch)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            if found is not None:
                self._wake(watch)
        # Idle watches keep their connection for the next waiter.

    @staticmethod
    def _wake(watch: _Watch) -> None:
        for waiter in list(watch.waiters):
            if not waiter.done():
                waiter.set_result(None)
        watch.waiters.clear()

    async def _drop(self, watch: _Watch) -> None:
        close, watch.call, watch.close = watch.close, None, None
        if close is not None:
            with contextlib.suppress(Exception):
                await close()

    async def aclose(self) -> None:
        """Wake nobody any more: cancel the watches and close their connections."""
        self._closed = True
        for watch in self._watches.values():
            for waiter in watch.waiters:
                if not waiter.done():
                    waiter.cancel()
            if watch.task is not None and not watch.task.done():
                watch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watch.task
            await self._drop(watch)
        self._watches.clear()
