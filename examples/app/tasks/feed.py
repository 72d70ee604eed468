"""A task that fails: the worker records it in the failed list (resque's ``failed``),
where ``pyresque status``, resque-web and ``tasks.failed()`` find it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyresque.tasks import Input, Task


class FeedUnreachableError(ConnectionError):
    """The feed did not answer (always, in this example)."""


class ImportFeed(Task):
    name = "import_feed"
    description = "imports a partner's feed; its host never answers"
    queue = "default"
    inputs = {"url": Input(default="https://feeds.example.invalid/partners.xml")}

    async def run(self, params: Mapping[str, Any], worker: Any) -> None:
        raise FeedUnreachableError(f"{params['url']} did not answer")
