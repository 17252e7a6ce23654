"""WSGI entry point. Provider callbacks get a lean middleware stack; everything else the full one.

The seamless-wallet callbacks (`/api/igpx/`, `/api/betsy/`) are machine-to-machine JSON,
authenticated by an HMAC over the body: sessions, user authentication, CSRF, messages, static
files and frame headers do nothing for them, and cost about 120 µs of CPU per callback
(docs/benchmarks/igpx.md). They keep the metrics and security middleware.
"""

import os

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
site = get_wsgi_application()

CALLBACK_PREFIXES = ("/api/igpx/", "/api/betsy/")
CALLBACK_MIDDLEWARE = ["config.ops.metrics_middleware", "django.middleware.security.SecurityMiddleware"]


class CallbackHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # Runs once, at start-up, before any request is served.
        from django.conf import settings

        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = CALLBACK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


callbacks = CallbackHandler()


def application(environ, start_response):
    if environ.get("PATH_INFO", "").startswith(CALLBACK_PREFIXES):
        return callbacks(environ, start_response)
    return site(environ, start_response)
