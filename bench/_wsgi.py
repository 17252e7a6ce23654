"""One request straight into a WSGI application, in-process: the environ a server would build,
the answer's status and body. What bench/_capture.py's `call` and bench/protection_cost.py's
workers send their callbacks through.

It imports nothing from the project: protection_cost's worker loads it from this directory while
running inside an older tree (--base) that may not have it.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A JSON request from 127.0.0.1 as a WSGI environ; `headers` by their HTTP names."""
    result: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        result[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return result


def call(application: WsgiApp, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """(HTTP status, body) of one request to `application`."""
    status: list[str] = []
    chunks = application(environ(method, path, body, headers), lambda s, h, exc_info=None: status.append(s))
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0]), content
