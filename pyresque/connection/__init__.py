"""Everything in pyresque that talks to Redis goes through this package."""

from pyresque.connection.commands import REQUIRED_COMMANDS, SENTINEL_COMMANDS
from pyresque.connection.drivers import (
    AsyncDriver,
    LeanDriver,
    LeanSyncDriver,
    RedisPyDriver,
    RedisPySyncDriver,
    SyncDriver,
    open_async_driver,
    open_sync_driver,
    replication,
    run_plan,
)
from pyresque.connection.resp import RespConnection
from pyresque.connection.settings import DEFAULT_URL, Settings, default_url

__all__ = [
    "DEFAULT_URL",
    "REQUIRED_COMMANDS",
    "SENTINEL_COMMANDS",
    "AsyncDriver",
    "LeanDriver",
    "LeanSyncDriver",
    "RedisPyDriver",
    "RedisPySyncDriver",
    "RespConnection",
    "Settings",
    "SyncDriver",
    "default_url",
    "open_async_driver",
    "open_sync_driver",
    "replication",
    "run_plan",
]
