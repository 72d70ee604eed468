"""``pyresque failed list|retry|remove|clear``: the failed list at any size, through
:class:`pyresque.fleet.Fleet` (``spec/admin.md`` says what each action writes)."""

from __future__ import annotations

import argparse
import json

from pyresque.cli.fleetrun import on_fleet
from pyresque.cli.options import one_line
from pyresque.cli.status import _name
from pyresque.errors import PyresqueError, UsageError
from pyresque.fleet import FailedEntry, FailedFilter, FailedPage, Fleet

__all__ = ["clear", "format_entry", "list_failed", "remove", "retry", "selection"]


def _filter(options: argparse.Namespace) -> FailedFilter:
    return FailedFilter(
        queue=options.queue,
        job_class=options.job_class,
        exception=options.exception,
        text=options.text,
    )


def format_entry(entry: FailedEntry) -> str:
    """One line: index, queue, class, ``exception: error``, failed at, worker."""
    if entry.entry is None:
        why = entry.unreadable["unreadable"] if entry.unreadable else "no JSON object"
        return f"{entry.index}  unreadable ({one_line(why)})"
    error = one_line(entry.error or "")
    cells = [
        str(entry.index),
        _name(entry.queue or "?"),
        _name(entry.job_class or "?"),
        f"{_name(entry.exception or '?')}: {_name(error)}",
        entry.failed_at or "?",
        _name(entry.worker or "?"),
    ]
    if entry.retried_at is not None:
        cells.append(f"(retried {entry.retried_at})")
    return "  ".join(cells)


def _page_text(page: FailedPage, filtered: bool) -> str:
    lines = [format_entry(entry) for entry in page.entries]
    footer = f"{len(page.entries)} of {page.matched} shown"
    if page.offset:
        footer += f" (from {page.offset})"
    if filtered:
        footer += f"; {page.total} entries in the list"
    return "\n".join([*lines, footer])


def _page_json(page: FailedPage) -> str:
    document = {
        "entries": [entry.as_dict() for entry in page.entries],
        "offset": page.offset,
        "limit": page.limit,
        "total": page.total,
        "matched": page.matched,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def list_failed(options: argparse.Namespace) -> int:
    """``pyresque failed list``: a page of the entries (of those the filters match)."""
    where = _filter(options)

    async def work(fleet: Fleet) -> FailedPage:
        return await fleet.failed.search(where, offset=options.offset, limit=options.limit)

    page = on_fleet(options, work)
    print(_page_json(page) if options.json else _page_text(page, not where.empty))
    return 0


def selection(options: argparse.Namespace) -> list[int] | FailedFilter:
    """The indexes, or the filter (empty for ``--all``), that ``retry``/``remove`` act on;
    UsageError when the command line names neither, or both."""
    where = _filter(options)
    if options.indexes and (options.all or not where.empty):
        raise UsageError("name entries by INDEX, or select them with --all or filters, not both")
    if options.indexes:
        return list(dict.fromkeys(options.indexes))
    if not options.all and where.empty:
        raise UsageError(
            "say which entries: INDEX..., --all, or filters (--queue, --class, --exception, --text)"
        )
    return where


async def _read(fleet: Fleet, indexes: list[int]) -> list[FailedEntry]:
    entries = []
    for index in indexes:
        entry = await fleet.failed.get(index)
        if entry is None:
            raise PyresqueError(f"there is no failed entry at index {index}")
        entries.append(entry)
    return entries


def _jobs(count: int) -> str:
    return f"{count} failed job{'' if count == 1 else 's'}"


def retry(options: argparse.Namespace) -> int:
    """``pyresque failed retry``: enqueue the selected entries' jobs again."""
    selected = selection(options)

    async def work(fleet: Fleet) -> int:
        if isinstance(selected, FailedFilter):
            return await fleet.failed.retry_matching(selected, keep=options.keep)
        return await fleet.failed.retry(await _read(fleet, selected), keep=options.keep)

    done = on_fleet(options, work)
    kept = " (entries kept, stamped retried_at)" if options.keep else ""
    print(f"retried {_jobs(done)}{kept}")
    return 0


def remove(options: argparse.Namespace) -> int:
    """``pyresque failed remove``: remove the selected entries."""
    selected = selection(options)
    if isinstance(selected, FailedFilter) and selected.empty and not options.yes:
        raise UsageError("--all without a filter removes every failed entry: add --yes")

    async def work(fleet: Fleet) -> int:
        if isinstance(selected, FailedFilter):
            return await fleet.failed.remove_matching(selected)
        return await fleet.failed.remove(await _read(fleet, selected))

    print(f"removed {_jobs(on_fleet(options, work))}")
    return 0


def clear(options: argparse.Namespace) -> int:
    """``pyresque failed clear``: delete the failed list (with ``--yes`` only)."""
    if not options.yes:
        raise UsageError("failed clear removes every failed entry: add --yes to do it")

    async def work(fleet: Fleet) -> int:
        return await fleet.failed.clear()

    print(f"cleared {_jobs(on_fleet(options, work))}")
    return 0
