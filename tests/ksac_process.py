"""`python -m ksac_cli ARGS` as a child process of the tests, started from a warm interpreter.

Most of a tiny `ksac` process's time is spent importing torch, torchvision and timm (4.5 s of CPU on a
quiet machine, up to 10 s on a slow one), against about 1 s for a tiny training run. So each pytest
process keeps one server (this file, run as a script) that imports those third-party packages once and
then forks a child for each `ksac` command. The child is a real process: its own pid, the command's
arguments, environment and working folder, its own stdout and stderr pipes, exit status and signals
(SIGKILL, SIGINT) as any subprocess. It runs the package as `python -m ksac_cli` does (runpy, `__main__`,
the interpreter's normal exit, its traceback and exit code on an uncaught exception). Only the import of
the third-party packages in PRELOAD happened before the fork, in a process that had done nothing else
(and whose objects were then frozen for the cyclic garbage collector with gc.freeze, as prefork servers do,
so that each child neither re-scans nor copies them): the package itself is imported in the child.

A fresh interpreter is started instead:
- for every command when KSAC_TESTS_FRESH=1 (`KSAC_TESTS_FRESH=1 pytest` runs the suite that way);
- when a command's environment differs from the server's in anything but KSAC_* and PYTEST_* variables
  (variables read at import time, such as OMP_NUM_THREADS, must reach the imports);
- when a command has a `preexec_fn` (limits set before the interpreter starts, as in test_disk_full);
- when the server cannot be started or is not single-threaded after its imports (fork would be unsafe).
The tests about the process start itself (which packages a command loads, torchrun, the `ksac` script
on PATH) call subprocess directly. tests/test_ksac_process.py checks that a warm child trains the same
weights bit for bit as a fresh interpreter and behaves like one.

Use: `run(*args, env=, cwd=, timeout=)` -> subprocess.CompletedProcess (text), or `popen(*args, ...)`
-> an object with Popen's pid, poll, wait, communicate, send_signal, kill, returncode.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import locale
import os
import runpy
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

PRELOAD = ("torch", "torch.utils.data", "torch.utils.tensorboard", "torchvision", "torchvision.transforms", "timm",
           "numpy", "scipy.ndimage", "PIL.Image", "yaml", "typer", "rich.console", "rich.progress", "rich.table",
           "pydantic", "pandas", "matplotlib", "fvcore.nn", "multiprocessing.queues", "concurrent.futures")
OWN_PREFIXES = ("KSAC_", "PYTEST_")  # variables read by the package at run time, or only by pytest
FRESH = os.environ.get("KSAC_TESTS_FRESH") == "1"


# ---------------------------------------------------------------- the server (this file run as a script)

def _serve(path: str) -> dict | None:
    """Import PRELOAD, then fork one child per request on the socket `path`, and report each child's exit
    status to the connection that asked for it. Returns the request in each child (which then runs it); in
    the server, returns None once the pytest process that started it is gone."""
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    threads = len(os.listdir("/proc/self/task"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    print(f"ready {threads}", flush=True)
    parent, waiting = os.getppid(), {}  # child pid -> the connection that asked for it
    while os.getppid() == parent:
        ready, _, _ = select.select([listener, wake_r], [], [], 1.0)
        if wake_r in ready:
            os.read(wake_r, 4096)
        if listener in ready:
            conn, _ = listener.accept()
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: nothing of the server stays open
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in (wake_r, wake_w):
                    os.close(fd)
                listener.close()
                for other in (conn, *waiting.values()):
                    other.close()
                os.dup2(fds[0], 1)
                os.dup2(fds[1], 2)
                for fd in fds:
                    os.close(fd)
                return json.loads(message)
            for fd in fds:
                os.close(fd)
            conn.send(str(pid).encode())
            waiting[pid] = conn
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = waiting.pop(pid)
            try:
                conn.send(str(status).encode())
            except OSError:  # the test gave up on it
                pass
            conn.close()
    return None


def _run_request(request: dict) -> None:
    """In the child: become `python -m ksac_cli ARGS` run in request's folder with request's environment."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [sys.argv[0], *request["args"]]
    sys.path[0] = request["cwd"]  # as `python -m` puts the working folder first
    runpy.run_module("ksac_cli", run_name="__main__", alter_sys=True)


# ---------------------------------------------------------------- the client (imported by the tests)

_server: dict = {}


def _start_server() -> str | None:
    """The socket of this process's server, started on first use; None when it cannot be used."""
    if "path" not in _server:
        folder = tempfile.mkdtemp(prefix="ksac-warm-")
        path = os.path.join(folder, "socket")
        with open(os.path.join(folder, "server.log"), "w") as log:  # the server keeps its own copy
            proc = subprocess.Popen([sys.executable, __file__, path], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=log, text=True)
        line = proc.stdout.readline().split()
        proc.stdout.close()
        usable = line[:1] == ["ready"] and line[1:] == ["1"]
        _server.update(path=path if usable else None, env=dict(os.environ), proc=proc, folder=folder)
        atexit.register(_stop_server)
        if not usable:
            _stop_server()
            warnings.warn(f"the tests' warm server cannot be used (it said {' '.join(line)!r}, expected 'ready 1': "
                          f"one thread); every `ksac` command starts a fresh interpreter")
    return _server["path"]


def _stop_server() -> None:
    proc = _server.get("proc")
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)
    shutil.rmtree(_server.get("folder", ""), ignore_errors=True)


def _imported_with(env: dict) -> dict:
    return {k: v for k, v in env.items() if not k.startswith(OWN_PREFIXES)}


def _warm_enough(env: dict) -> bool:
    """Whether a command with environment `env` may run in a child of the server: the same variables as the
    server's, but for the package's own and pytest's."""
    return _imported_with(env) == _imported_with(_server["env"])


class WarmProcess:
    """A `ksac` child forked by the server: the parts of subprocess.Popen the tests use."""

    def __init__(self, args: list[str], env: dict, cwd: str, text: bool, path: str):
        self.args = [sys.executable, "-m", "ksac_cli", *args]
        self.text, self.returncode = text, None
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._conn.connect(path)
        socket.send_fds(self._conn, [json.dumps({"args": args, "env": env, "cwd": cwd}).encode()], [out_w, err_w])
        os.close(out_w)
        os.close(err_w)
        self.pid = int(self._conn.recv(64))
        self.stdout = open(out_r, "rb", buffering=0)
        self.stderr = open(err_r, "rb", buffering=0)
        self._read = {out_r: bytearray(), err_r: bytearray()}
        self._open = {out_r, err_r}

    def _status(self, timeout: float | None) -> int | None:
        if self.returncode is None:
            self._conn.settimeout(timeout)
            try:
                data = self._conn.recv(64)
            except (socket.timeout, BlockingIOError):
                return None
            if not data:
                raise RuntimeError(f"the warm server ended before reporting on {self.args}")
            self.returncode = os.waitstatus_to_exitcode(int(data))
            self._conn.close()
        return self.returncode

    def poll(self) -> int | None:
        return self._status(0)

    def wait(self, timeout: float | None = None) -> int:
        if self._status(timeout) is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: never signal a pid that may be reused
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple:
        """Both outputs to their end, then the exit status; after TimeoutExpired it can be called again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            for fd in self._open:
                sel.register(fd, selectors.EVENT_READ)
            while self._open:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout)
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        self._read[key.fd] += chunk
                    else:
                        sel.unregister(key.fd)
                        self._open.discard(key.fd)
        self.wait(None if deadline is None else max(deadline - time.monotonic(), 0.001))
        out, err = (bytes(self._read[f.fileno()]) for f in (self.stdout, self.stderr))
        self.stdout.close()
        self.stderr.close()
        if self.text:  # as Popen's text mode: the locale's encoding, universal newlines
            out, err = (_as_text(b) for b in (out, err))
        return out, err


def _as_text(data: bytes) -> str:
    return data.decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")


def popen(*args: str, env: dict | None = None, cwd=None, text: bool = True, fresh: bool = False,
          preexec_fn=None):
    """`python -m ksac_cli ARGS` started with stdout and stderr piped: a WarmProcess, or a subprocess.Popen
    of a fresh interpreter when `fresh` or in the cases of the module's docstring."""
    env = dict(os.environ if env is None else env)
    cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
    path = None if fresh or FRESH or preexec_fn else _start_server()
    if path is not None and _warm_enough(env):
        return WarmProcess([str(a) for a in args], env, cwd, text, path)
    return subprocess.Popen([sys.executable, "-m", "ksac_cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=text, env=env, cwd=cwd, preexec_fn=preexec_fn)


def run(*args: str, env: dict | None = None, cwd=None, timeout: float = 300, fresh: bool = False,
        preexec_fn=None) -> subprocess.CompletedProcess:
    """`python -m ksac_cli ARGS` to its end, as subprocess.run(..., capture_output=True, text=True)."""
    proc = popen(*args, env=env, cwd=cwd, fresh=fresh, preexec_fn=preexec_fn)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


if __name__ == "__main__":
    request = _serve(sys.argv[1])
    if request is not None:
        _run_request(request)
