"""A web dashboard for a resque fleet (``pip install 'pyresque[web]'``): queues, workers
of every peer, failed jobs with search and bulk retry, delayed jobs, locks; a JSON API
behind every page. See :mod:`pyresque.web.app`."""

from __future__ import annotations

from pyresque.web.app import Dashboard, create_app
from pyresque.web.config import Fleet, WebConfig

__all__ = ["Dashboard", "Fleet", "WebConfig", "create_app"]
