"""The local stack: a moto server (S3, IAM, STS) and the Chalice app on localhost.

``TailorServer`` is what ``tailor serve`` runs; tests and benchmarks start it too.
The app is served by Chalice's own local server with Nagle's algorithm off
(stock ``chalice local`` adds ~40 ms to every call: see docs/architecture in
README), timeouts and a connection bound (``chalicelib.local_http``), and the job
worker runs as a thread beside it.

With ``processes`` > 1 (``--processes``, ``TAILOR_SERVE_PROCESSES``) the listening
socket is shared with ``processes - 1`` serving children (``python -m
chalicelib.server``), so requests use more than one core despite Python's GIL. The
children only serve HTTP: the job worker, the S3 watcher and the clock stay in the
parent, which a child wakes through a pipe when a request queues a job. All state is in
sqlite and the artifact store, and every in-process cache is keyed by what it reads
there, so any process may answer any request.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import ipaddress
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.config import from_env
from chalicelib.protocol import credentials
from chalicelib.protocol.credentials import Credential

log = logging.getLogger(__name__)
# What an unauthenticated Tailor (--no-auth) prints and its own AWS clients use.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1"}
# The credentials file tailor serve creates in the data dir when TAILOR_CREDENTIALS is unset.
CREDENTIALS_FILE = "credentials.json"


def port_taken(port: int) -> str:
    """What ``tailor serve`` says when a port it must bind is in use."""
    return (f"Port {port} for Tailor is taken; choose another (--port / --s3-port) or stop "
            "what uses it.")


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` with ``SO_REUSEADDR``, or SystemExit saying the
    port is taken. The bind itself decides: after a crash the old connections linger in
    TIME_WAIT / FIN_WAIT2 for about a minute, and only a bind without ``SO_REUSEADDR``
    (as a "is the port free?" probe would do) is refused for them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)  # sets SO_REUSEADDR
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(port_taken(port)) from None
        raise


def client_env(endpoint: str, s3_endpoint: str, region: str,
               key: tuple[str, str] | None = None) -> dict[str, str]:
    """The variables an unmodified boto3 program needs to talk to this Tailor; ``key``
    is the access key and secret to sign with (None: the dummy ones of --no-auth)."""
    key_id, secret = key or (DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                             DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    return {
        "AWS_ENDPOINT_URL_PERSONALIZE": endpoint,
        "AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME": endpoint,
        "AWS_ENDPOINT_URL_PERSONALIZE_EVENTS": endpoint,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ENDPOINT_URL_IAM": s3_endpoint,
        "AWS_ENDPOINT_URL_STS": s3_endpoint,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,  # the JavaScript SDK v3 reads no other
    }


def service_key_env() -> dict[str, str]:
    """Tailor's own key for the local S3/IAM/STS, new at each start and never printed:
    its jobs sign with it (the AWS_* variables of its processes) and the local S3 knows
    it (the TAILOR_SERVICE_* ones) as Personalize's service principal."""
    key_id = "AKIATAILOR" + secrets.token_hex(5).upper()
    secret = secrets.token_urlsafe(30)
    return {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
            "TAILOR_SERVICE_ACCESS_KEY_ID": key_id, "TAILOR_SERVICE_SECRET_ACCESS_KEY": secret}


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare_credentials(data_dir: Path, account_id: str) -> tuple[Path, Credential | None]:
    """The credentials file to use (``TAILOR_CREDENTIALS``, else ``<data dir>/
    credentials.json``, created with one random key on first start) and, for the
    created file, its key. Exits with the reason if the file cannot be used."""
    named = os.environ.get("TAILOR_CREDENTIALS")
    path = Path(named) if named else data_dir / CREDENTIALS_FILE
    try:
        if not named and not path.exists():
            log.info("created %s with a new access key for account %s", path, account_id)
            credentials.generate(path, account_id)
        found = credentials.read(path)
    except (OSError, credentials.CredentialsError) as exc:
        raise SystemExit(str(exc)) from None
    return path.resolve(), None if named else found.credentials[0]


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In a child: get ``sig`` when Tailor dies, even by kill -9 (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# A process waiting in accept() gives up after this long when another one took the
# connection (serving processes share the listening socket).
ACCEPT_TIMEOUT = 0.05
# How often the main process looks for serving children that died.
CHILD_CHECK_SECONDS = 1.0


def _local_app(app: Any) -> Any:
    """Give the app Chalice's local-mode behaviour, as ``chalice.local.create_local_server``."""
    from chalice.local import CustomLocalChalice, LocalChalice

    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return app


@dataclass
class TailorServer:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    s3_port: int = 8001
    worker: bool = True
    processes: int = 1
    # Requests must be signed with a key of the credentials file (False: --no-auth).
    auth: bool = True
    # The key printed in the export lines (the one tailor serve created), if any.
    key: Credential | None = None
    # Where the local S3 (moto) listens. Without auth it checks no signature, so it
    # must stay on loopback; with auth ``tailor serve`` gives it ``host``.
    s3_host: str = "127.0.0.1"
    endpoint: str = ""
    s3_endpoint: str = ""
    _threads: list[threading.Thread] = field(default_factory=list)
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        # No "is the port free?" probe: each server's own bind (with SO_REUSEADDR, so a
        # restart right after a crash is not refused for the old connections) decides,
        # and a port in use becomes the same clear message (``port_taken``).
        # The data dir holds the local S3's objects and everything sent to Tailor: only its
        # owner may read it. The umask makes every file and folder created from here on,
        # by this process, its serving children and moto (sqlite's database with its
        # -wal/-shm, the S3 journal, artifacts), 0600 / 0700 without each writer asking.
        os.umask(0o077)
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # a data dir made before, or by someone else's mkdir
        os.environ["TAILOR_AUTH"] = "1" if self.auth else "0"
        if self.auth:
            path, self.key = prepare_credentials(self.data_dir, from_env().account_id)
            os.environ["TAILOR_CREDENTIALS"] = str(path)
            os.environ.update(service_key_env())
        else:
            for key, value in DUMMY_CREDENTIALS.items():
                os.environ.setdefault(key, value)
        os.environ.setdefault("AWS_DEFAULT_REGION", from_env().region)  # for STS and S3
        self._start_moto()
        os.environ["TAILOR_DATA_DIR"] = str(self.data_dir.resolve())
        os.environ["AWS_ENDPOINT_URL_S3"] = self.s3_endpoint
        os.environ["AWS_ENDPOINT_URL_STS"] = self.s3_endpoint  # jobs assume callers' roles
        os.environ["TAILOR_INPROCESS_WORKER"] = "1" if self.worker else "0"
        try:
            self._start_app()
        except BaseException:
            self.stop()
            raise

    def _start_moto(self) -> None:
        """moto runs in a child process (``chalicelib.s3server``): its objects live in
        memory, and a large upload or download must not add to Tailor's own footprint.
        Its first line of output is its endpoint, or why it could not start. It is killed
        outright if Tailor dies (it holds nothing that needs a clean stop), so that its
        port is free at once for a Tailor started again."""
        self._moto = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.s3server", "--host", self.s3_host,
             "--port", str(self.s3_port), "--journal",
             str(self.data_dir.resolve() / "s3-journal.jsonl")],
            stdout=subprocess.PIPE, text=True,
            preexec_fn=lambda: _die_with_parent(signal.SIGKILL))  # noqa: PLW1509 - no threads yet
        line = (self._moto.stdout.readline() if self._moto.stdout else "").strip()
        if not line.startswith("http"):
            self._moto.wait(timeout=20)
            raise SystemExit(line or "The local S3 (moto) did not start; see the messages "
                             "above.")
        self.s3_endpoint = line

    def _start_app(self) -> None:
        import app as tailor_app
        from chalicelib.jobs import s3_trigger
        from chalicelib.jobs.runner import start_worker
        from chalicelib.state.context import context

        try:  # bind first: nothing runs if the port is taken
            self._server = _dev_server(tailor_app.app, self.host, self.port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SystemExit(port_taken(self.port)) from None
            raise
        self.port = self._server.server.server_address[1]
        self.endpoint = f"http://{self.host}:{self.port}"
        ctx = context()
        if self.worker:  # with the app's clock: automatic training, metric reports
            self._worker = start_worker(ctx, tailor_app.clock)
        try:  # S3 events never fire locally: poll the prefixes TAILOR_S3_IMPORTS maps
            self._s3_watcher = s3_trigger.start_watcher(ctx, tailor_app.create_import_job)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        if self.processes > 1:
            self._start_children(ctx)
        thread = threading.Thread(target=self._server.server.serve_forever, daemon=True,
                                  name="tailor-http")
        thread.start()
        self._threads.append(thread)

    def _start_children(self, ctx: Any) -> None:
        """``processes - 1`` more servers on the same listening socket; the parent keeps
        the worker, reads the children's wake-ups from a pipe and replaces a child that
        dies."""
        listener = self._server.server.socket
        listener.settimeout(ACCEPT_TIMEOUT)
        wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._children = [self._spawn_child() for _ in range(self.processes - 1)]
        for target, args, name in ((_relay_wakes, (wake_read, ctx), "tailor-wake"),
                                   (self._supervise, (), "tailor-children")):
            thread = threading.Thread(target=target, args=args, daemon=True, name=name)
            thread.start()
            self._threads.append(thread)
        log.info("Serving with %d processes (pids %d and %s)", self.processes, os.getpid(),
                 ", ".join(str(c.pid) for c in self._children))

    def _spawn_child(self) -> subprocess.Popen[bytes]:
        listen = self._server.server.socket.fileno()
        return subprocess.Popen(
            [sys.executable, "-m", "chalicelib.server", "--listen-fd", str(listen),
             "--wake-fd", str(self._wake_write), "--parent-pid", str(os.getpid())],
            pass_fds=(listen, self._wake_write),
            env={**os.environ, "TAILOR_INPROCESS_WORKER": "0"})

    def _supervise(self) -> None:
        """Replace a serving child that exited (crashed, killed) while Tailor runs."""
        while not self._stopping.wait(CHILD_CHECK_SECONDS):
            for i, child in enumerate(self._children):
                if child.poll() is not None and not self._stopping.is_set():
                    self._children[i] = self._spawn_child()
                    log.warning("Serving child %d exited (status %s); started %d instead",
                                child.pid, child.returncode, self._children[i].pid)

    def env(self) -> dict[str, str]:
        from chalicelib.config import settings

        """The client environment; with a credentials file of the user's
        (``TAILOR_CREDENTIALS``), without the key and secret: they are the user's to give."""
        key = None if self.key is None else (self.key.accessKeyId, self.key.secretAccessKey)
        env = client_env(self.endpoint, self.s3_endpoint, settings().region, key)
        if self.auth and self.key is None:
            del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        return env

    def stop(self) -> None:
        watcher = getattr(self, "_s3_watcher", None)
        if watcher is not None:
            watcher.stop()
        if getattr(self, "_worker", None):
            self._worker.stop()
        self._stopping.set()
        for child in self._children:
            child.terminate()
        for child in self._children:
            child.wait(timeout=20)
        if getattr(self, "_server", None):
            if any(t.name == "tailor-http" for t in self._threads):  # else shutdown() waits
                self._server.server.shutdown()
            self._server.server.server_close()
        if getattr(self, "_moto", None):
            self._moto.terminate()
            self._moto.wait(timeout=20)


def _relay_wakes(fd: int, ctx: Any) -> None:
    """In the parent: a byte from a child means a request queued a job."""
    while os.read(fd, 512):
        ctx.wake()
    os.close(fd)


def _poke(fd: int) -> None:
    try:
        os.write(fd, b"w")
    except (BlockingIOError, BrokenPipeError):  # a wake-up is pending anyway / no parent
        pass


def _inherited_server(fd: int) -> Any:
    """A ``server_cls`` for ``LocalDevServer`` that serves on an inherited listening socket."""
    from chalicelib.local_http import server_class

    def build(address: tuple[str, int], handler: Any) -> Any:
        server = server_class()(address, handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=fd)
        server.socket.settimeout(ACCEPT_TIMEOUT)
        server.server_address = server.socket.getsockname()
        server.server_name, server.server_port = server.server_address[:2]
        return server
    return build


def _dev_server(app: Any, host: str, port: int, server_cls: Any = None) -> Any:
    """Chalice's ``LocalDevServer`` for the app as ``tailor serve`` runs it (the parent
    binds ``host:port``; a child passes ``server_cls`` to use the inherited socket), with
    the bounds of ``chalicelib.local_http``."""
    from chalice.config import Config
    from chalice.local import LocalDevServer

    from chalicelib.local_http import handler_class, server_class

    config = Config.create(chalice_stage="dev", app_name="tailor")
    return LocalDevServer(_local_app(app), config, host, port, handler_cls=handler_class(),
                          server_cls=server_cls or server_class())


def serve_child(listen_fd: int, wake_fd: int, parent_pid: int) -> None:
    """A serving child: the app on the parent's socket, until the parent stops it."""
    _die_with_parent()  # here, not in a preexec_fn: the parent has threads
    if os.getppid() != parent_pid:  # it died before the line above took effect
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    import app as tailor_app
    from chalicelib.state.context import context

    context().wake = lambda: _poke(wake_fd)
    _dev_server(tailor_app.app, "", 0, _inherited_server(listen_fd)).server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=serve_child.__doc__)
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--wake-fd", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    args = parser.parse_args()
    serve_child(args.listen_fd, args.wake_fd, args.parent_pid)
