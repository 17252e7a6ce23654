"""Operator API enforcement: the API key authenticates, the view's `required_scope` authorizes,
the key's own rate limit throttles.

A view declares `required_scope = "<scope>"` (see apikeys.models.SCOPES), or a mapping of HTTP
method to scope. A view under the operator API that declares none is closed to every key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from django.core.cache import cache
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from apikeys.models import SCOPES, ApiKey
from config.logthrottle import Throttled


class ApiKeyUser:
    """request.user for a call made with an API key: authenticated, no staff rights, no user row
    (audit rows name the key instead, via request.auth)."""

    pk = None
    id = None
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key

    def has_perm(self, perm: str, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return f"API key {self.key}"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <prefix>.<secret>`."""

    keyword = b"bearer"

    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization: Bearer <api key> (one key, no spaces)")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("the API key is not ASCII") from None
        try:
            key = ApiKey.objects.get_from_key(raw)
        except ApiKey.DoesNotExist:
            raise AuthenticationFailed("unknown or revoked API key") from None
        if key.has_expired:
            raise AuthenticationFailed("this API key has expired")
        key.touch()
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a call without a key.
        return 'Bearer realm="touchline operator API"'


def required_scope(view, method: str) -> str | None:
    scope = getattr(view, "required_scope", None)
    if isinstance(scope, Mapping):
        scope = scope.get(method.upper())
    return scope


class HasScope(BasePermission):
    code = "scope_missing"

    def has_permission(self, request: Request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        scope = required_scope(view, request.method)
        if scope not in SCOPES:
            self.message = f"{type(view).__name__} declares no valid required_scope: closed to every key"
            return False
        if not key.has_scope(scope):
            self.message = f"API key {key.prefix} lacks the {scope!r} scope"
            return False
        return True


_cache_down = Throttled(logging.getLogger("touchline.apikeys"), interval=60)


def _now() -> float:
    return time.time()


class ApiKeyRateThrottle(BaseThrottle):
    """Each key's own `rate_limit`, counted per fixed window in the default cache: Redis when
    REDIS_URL is set, so every process draws on the same count, with an atomic INCR. (DRF's
    SimpleRateThrottle keeps a list of every request's time and rewrites it per request: a
    read-modify-write that concurrent processes lose updates to, and 1,200 entries at
    1200/min.) A fixed window lets at most twice the rate through across a window's edge."""

    def allow_request(self, request: Request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey) or not key.rate_limit:
            return True
        allowed, duration = SimpleRateThrottle.parse_rate(self, key.rate_limit)
        now = _now()
        window = int(now // duration)
        counter = f"throttle:apikey:{key.prefix}:{window}"
        self._wait = (window + 1) * duration - now
        try:
            cache.add(counter, 0, timeout=duration + 1)
            try:
                used = cache.incr(counter)
            except ValueError:  # expired between add and incr
                cache.set(counter, 1, timeout=duration + 1)
                used = 1
        except Exception as exc:  # noqa: BLE001 - any cache outage
            # Fail open: the limit protects us from a runaway client, but a Redis outage must not
            # stop the casino from reading players or moving money (transfers keep their own
            # per-key size limits and idempotency in the database).
            _cache_down.warning("cache", "API key rate limit not counted (cache unavailable: %s)", exc)
            return True
        return used <= allowed

    def wait(self) -> float:
        return self._wait
