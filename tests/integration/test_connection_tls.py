"""rediss:// against a real TLS-only redis-server, with certificates made by openssl here:
a custom CA, hostname checks on and off, no verification, client certificates; the async
connection, the blocking pool and a worker."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyresque import ConnectionFailedError, Queue, Worker
from pyresque.connection import Settings
from pyresque.server import find_redis_server
from pyresque.sync import Queue as SyncQueue
from pyresque.testing import poll_until
from tests.servers import Process, free_port, need


class Certs:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ca = folder / "ca.crt"
        self.other_ca = folder / "other-ca.crt"
        self.server = folder / "server.crt"
        self.server_key = folder / "server.key"
        self.client = folder / "client.crt"
        self.client_key = folder / "client.key"


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _make_ca(folder: Path, name: str) -> None:
    _openssl(
        folder, "req", "-x509", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.crt",
        "-days", "2", "-subj", f"/CN=pyresque test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def _make_leaf(folder: Path, name: str, usage: str, alt_names: str | None) -> None:
    _openssl(folder, "req", "-new", *_EC, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN=pyresque test {name}")  # fmt: skip
    extensions = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature",
        f"extendedKeyUsage={usage}",
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid",
    ]
    if alt_names:
        extensions.append(f"subjectAltName={alt_names}")
    (folder / f"{name}.ext").write_text("\n".join(extensions) + "\n")
    _openssl(
        folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
    )  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    need("openssl", "openssl")
    folder = tmp_path_factory.mktemp("tls")
    _make_ca(folder, "ca")
    _make_ca(folder, "other-ca")
    _make_leaf(folder, "server", "serverAuth", "DNS:localhost,IP:127.0.0.1")
    _make_leaf(folder, "client", "clientAuth", None)
    return Certs(folder)


def _tls_answers(port: int, certs: Certs) -> bool:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client), str(certs.client_key))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def _start_tls_redis(certs: Certs, folder: Path, *, auth_clients: bool) -> Iterator[int]:
    found = find_redis_server()
    if found is None:
        pytest.skip("no redis-server")
    port = free_port()
    log = folder / f"redis-{port}.log"
    process = Process(
        [
            found[0], "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "127.0.0.2",
            "--tls-cert-file", str(certs.server), "--tls-key-file", str(certs.server_key),
            "--tls-ca-cert-file", str(certs.ca),
            "--tls-auth-clients", "yes" if auth_clients else "no",
            "--save", "", "--appendonly", "no", "--dir", str(folder), "--logfile", str(log),
        ],
        log,
    )  # fmt: skip
    process.wait_ready(lambda: _tls_answers(port, certs))
    yield port
    process.stop()


@pytest.fixture(scope="module")
def tls_port(certs: Certs) -> Iterator[int]:
    """A TLS-only redis-server that does not ask for client certificates."""
    yield from _start_tls_redis(certs, certs.folder, auth_clients=False)


@pytest.fixture(scope="module")
def mtls_port(certs: Certs) -> Iterator[int]:
    """A TLS-only redis-server that requires a client certificate from its CA."""
    yield from _start_tls_redis(certs, certs.folder, auth_clients=True)


def _url(host: str, port: int, **query: object) -> str:
    options = "&".join(f"{k}={v}" for k, v in query.items())
    return f"rediss://{host}:{port}/0" + (f"?{options}" if options else "")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_async_connection_verifies_the_server_with_a_custom_ca(
    certs: Certs, tls_port: int, host: str
) -> None:
    async with Queue(_url(host, tls_port, ssl_ca_certs=certs.ca), namespace="tls") as queue:
        assert await queue.enqueue("q", "job", [1])
        assert await queue.length("q") == 1
        await queue.delete_queue("q")


async def test_hostname_checks_refuse_a_name_the_certificate_lacks_unless_turned_off(
    certs: Certs, tls_port: int
) -> None:
    with pytest.raises(ConnectionFailedError, match="127.0.0.2") as info:
        await Queue(_url("127.0.0.2", tls_port, ssl_ca_certs=certs.ca)).length("q")
    assert "certificate" in str(info.value) and "\n" not in str(info.value)
    url = _url("127.0.0.2", tls_port, ssl_ca_certs=certs.ca, ssl_check_hostname="false")
    queue = Queue(url)
    assert await queue.length("q") == 0
    await queue.aclose()


@pytest.mark.parametrize("client", ["async", "sync"])
async def test_a_server_certificate_from_another_ca_fails_with_one_line(
    certs: Certs, tls_port: int, client: str
) -> None:
    url = _url("127.0.0.1", tls_port, ssl_ca_certs=certs.other_ca)
    with pytest.raises(ConnectionFailedError) as info:
        if client == "async":
            await Queue(url).length("q")
        else:
            SyncQueue(url).length("q")
    message = str(info.value)
    assert message.startswith(f"cannot connect to Redis at 127.0.0.1:{tls_port}/0: ")
    assert "certificate verify failed" in message and "\n" not in message


async def test_no_verification_takes_a_self_signed_certificate_and_default_cas_do_not(
    tls_port: int,
) -> None:
    # What a Heroku-style self-signed server needs: ssl_cert_reqs=none.
    queue = Queue(_url("127.0.0.1", tls_port, ssl_cert_reqs="none"))
    assert await queue.length("q") == 0
    await queue.aclose()
    with pytest.raises(ConnectionFailedError, match="certificate verify failed"):
        await Queue(_url("127.0.0.1", tls_port)).length("q")


async def test_a_client_certificate_is_presented_when_the_server_requires_one(
    certs: Certs, mtls_port: int
) -> None:
    url = _url(
        "127.0.0.1", mtls_port,
        ssl_ca_certs=certs.ca, ssl_certfile=certs.client, ssl_keyfile=certs.client_key,
    )  # fmt: skip
    queue = Queue(url, namespace="tls")
    assert await queue.enqueue("q", "job", [1])
    await queue.delete_queue("q")
    await queue.aclose()
    without = Queue(_url("127.0.0.1", mtls_port, ssl_ca_certs=certs.ca))
    with pytest.raises(ConnectionFailedError, match=f"127.0.0.1:{mtls_port}/0") as info:
        await without.length("q")
    assert "\n" not in str(info.value)
    await without.aclose()


def test_the_blocking_pool_speaks_tls_with_a_client_certificate(
    certs: Certs, mtls_port: int
) -> None:
    settings = Settings(
        port=mtls_port,
        tls=True,
        ssl_ca_certs=str(certs.ca),
        ssl_certfile=str(certs.client),
        ssl_keyfile=str(certs.client_key),
    )
    with SyncQueue(settings, namespace="tls") as queue:
        assert queue.enqueue("q", "job", [1])
        assert queue.length("q") == 1
        queue.delete_queue("q")
    with pytest.raises(ConnectionFailedError, match="refused|lost|alert"):
        SyncQueue(Settings(port=mtls_port, tls=True, ssl_ca_certs=str(certs.ca))).length("q")


async def test_a_worker_takes_and_runs_jobs_over_tls(certs: Certs, mtls_port: int) -> None:
    settings = Settings(
        port=mtls_port,
        tls=True,
        ssl_ca_certs=str(certs.ca),
        ssl_certfile=str(certs.client),
        ssl_keyfile=str(certs.client_key),
    )
    ran: list[int] = []

    async def job(n: int) -> None:
        ran.append(n)

    def fails() -> None:
        raise RuntimeError("over TLS too")

    queue = Queue(settings, namespace="tls-worker")
    worker = Worker(settings, "q", {"job": job, "fails": fails}, namespace="tls-worker")
    await worker.start()
    # Enqueued after the worker went idle: its BLMOVE wake-up runs over TLS too.
    await queue.enqueue("q", "job", [1])
    await queue.enqueue("q", "fails", [])
    await poll_until(lambda: queue.failed_count())
    assert ran == [1]
    assert (await queue.failed(0, 0))[0]["error"] == "over TLS too"
    await worker.stop()
    await queue.delete_queue("q")
    await queue.remove_failed((await queue.failed(0, 0))[0])
    await queue.aclose()
