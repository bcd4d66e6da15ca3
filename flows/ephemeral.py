"""Prefect's temporary server must not outlive ``polymix build-mix``, even when it is killed with SIGKILL.

Without ``PREFECT_API_URL`` a flow run starts Prefect's temporary API server as a child process
and stops it at exit (``atexit``); a SIGKILL skips that, and the server stayed behind holding a
port and a SQLite file. :func:`guard_temporary_server` starts that server up front and beside it
a tiny watchdog process that stops it as soon as the parent dies (the watchdog sees its parent
change), however the parent died.
"""

from __future__ import annotations

import os
import subprocess
import sys

_WATCHDOG = """
import os, signal, sys, time
parent, server = int(sys.argv[1]), int(sys.argv[2])
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
while os.getppid() == parent and alive(server):
    time.sleep(0.2)
if alive(server):
    os.kill(server, signal.SIGTERM)
    for _ in range(50):
        time.sleep(0.1)
        if not alive(server):
            break
    else:
        os.kill(server, signal.SIGKILL)
"""


def guard_temporary_server() -> int | None:
    """Start Prefect's temporary server and its watchdog when this process will need one; return the server's pid."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None  # a real server (make server / a test harness): nothing of ours to clean up
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the instance every Prefect client of this process will use
    server.start()
    pid = server.server_process.pid
    subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return pid
