"""IGPX callback endpoints: verify the signature, parse, call one service, answer.

Always HTTP 200 with a JSON body carrying `error` (the seed's rule), whatever went wrong.
The HMAC is the authentication: no DRF token auth, no CSRF (DRF views are CSRF-exempt).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from config.logthrottle import Throttled
from wallet.igpx import conf, protocol, services
from wallet.igpx.protocol import IgpxError
from wallet.services import refusals

logger = logging.getLogger("touchline.wallet.igpx")
security_logger = logging.getLogger("touchline.security.igpx")
# A provider with the wrong secret, or a scanner, sends one bad signature per request.
_bad_signatures = Throttled(security_logger)
# A refused result or rollback comes back with every retry of the provider.
_refusals = Throttled(logger)

_ERRORS_TEXT = "\n".join(f"- `{code}`: {meaning}" for code, meaning in protocol.ERROR_CODES.items())
_DESCRIPTION = (
    "Signed with `X-Security-Hash`: lowercase hex HMAC-SHA256 of the raw body with the shared secret. "
    "Always answered with HTTP 200; `error` is null on success, otherwise one of:\n\n" + _ERRORS_TEXT
)
_RESPONSE = inline_serializer(
    name="IgpxCallbackResponse",
    fields={
        "error": serializers.ChoiceField(choices=list(protocol.ERROR_CODES), allow_null=True),
        "transaction_id": serializers.CharField(required=False, help_text="Our unique id (success only)."),
    },
)
_SIGNATURE = OpenApiParameter(
    protocol.SIGNATURE_HEADER, location=OpenApiParameter.HEADER, required=True, description="hex HMAC-SHA256"
)
_AMOUNT = serializers.CharField(
    help_text="Decimal as a string or JSON number, ≥ 0. A bet's at the currency's precision; a result's may be"
    " finer (paid rounded up to the currency, docs/CALLBACKS.md)."
)


def _json(body: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    # Set here, not by CommonMiddleware: callbacks run without it (config/wsgi.py), and a
    # provider's HTTP client should get a plain sized body, not a chunked one.
    response["Content-Length"] = str(len(response.content))
    return response


# Answers outside a callback (wrong method, unknown path) are in IGPX's format too.
NOT_ALLOWED = protocol.render_error(protocol.INVALID_REQUEST)


@csrf_exempt  # provider paths answer in the provider's format, never CSRF's HTML 403
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    """Any other path under /api/igpx/ (a trailing slash, `//`, `%00`…): IGPX's JSON, HTTP 404."""
    return _json(NOT_ALLOWED, 404)


class _Callback(APIView):
    """An APIView only so that drf-spectacular documents it: `dispatch` bypasses DRF's request
    wrapping, authentication, negotiation and rendering, which the HMAC and our fixed JSON
    answers make useless, and which cost this hot path measurable CPU (docs/benchmarks/igpx.md)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    parse: Callable[[bytes], object]
    process: Callable[..., str]

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method != "POST":
            response = _json(NOT_ALLOWED, 405)
            response["Allow"] = "POST"
            return response
        return self._handle(request)

    def _handle(self, request: HttpRequest) -> HttpResponse:
        try:
            raw: bytes | None = request.body  # the exact bytes the provider signed
        except RequestDataTooBig:
            raw = None
        meta = request.META
        return _json(type(self).answer(raw, meta.get(protocol.SIGNATURE_META), request.path, meta.get("REMOTE_ADDR")))

    @classmethod
    def answer(cls, raw: bytes | None, signature: str | None, path: str, remote_addr: str | None) -> str:
        """The whole callback, from the signed bytes to the JSON answer (`raw` None: the body was
        over the size limit). Shared by this view and the production WSGI route
        (config/wsgi.py), which calls it without Django's request cycle."""
        allowed = conf.ALLOWED_IPS
        if allowed.networks and not allowed.allows(remote_addr):
            allowed.refuse(protocol.PROVIDER, remote_addr)
            return protocol.render_error(protocol.INVALID_SIGNATURE)
        if raw is None:  # over the size limit: unread, so it cannot even be authenticated
            _bad_signatures.warning(
                f"too-large:{remote_addr}", "igpx %s refused: body too large (from %s)", path, remote_addr
            )
            return protocol.render_error(protocol.INVALID_REQUEST)
        try:
            protocol.verify_signature(raw, signature, conf.security_hash())
        except IgpxError as refusal:
            # Nothing is parsed or stored for an unsigned request: a log line per interval is all it gets.
            _bad_signatures.warning(
                f"{path}:{remote_addr}", "igpx %s refused: %s (from %s)", path, refusal, remote_addr
            )
            return protocol.render_error(refusal.code)
        parsed = None
        try:
            parsed = cls.parse(raw)
            return cls.process(request=parsed, raw=raw.decode("utf-8", "replace"))
        except IgpxError as refusal:
            if parsed is None:  # the signed body itself is wrong
                cls.refused(raw, path, refusal)
            else:
                logger.info("igpx %s refused: %s %s", path, refusal.code, refusal.message)
            return protocol.render_error(refusal.code)
        except Exception:
            # The service's transaction has rolled back: nothing is stored and a retry will re-run.
            logger.exception("igpx %s failed", path)
            return protocol.render_error(protocol.INTERNAL_ERROR)

    @staticmethod
    def refused(raw: bytes, path: str, refusal: IgpxError) -> None:
        """A signed body that does not parse. A bet is simply declined; a result or rollback is
        retried by the provider forever, so staff see it (once per distinct refusal)."""
        action, transaction_id = protocol.peek(raw)
        if path.endswith("-rollback"):
            action = protocol.ROLLBACK
        level = logging.INFO if action == protocol.BET else logging.WARNING
        _refusals.log(level, f"{path}:{transaction_id}", "igpx %s refused: %s %s", path, refusal.code, refusal.message)
        if action != protocol.BET:
            refusals.refused(protocol.PROVIDER, action or "callback", transaction_id, refusal.message)


class TransactionView(_Callback):
    parse = staticmethod(protocol.parse_transaction)
    process = staticmethod(services.transaction_process)

    @extend_schema(
        operation_id="igpx_transaction",
        tags=["igpx"],
        summary="IGPX bet (debit) or result (credit)",
        description=_DESCRIPTION,
        parameters=[_SIGNATURE],
        auth=[],
        request=inline_serializer(
            name="IgpxTransactionRequest",
            fields={
                "transaction_id": serializers.CharField(),
                "action": serializers.ChoiceField(choices=["bet", "result"]),
                "user_id": serializers.CharField(),
                "currency": serializers.CharField(),
                "amount": _AMOUNT,
            },
        ),
        responses={200: _RESPONSE},
        examples=[
            OpenApiExample("success", value={"error": None, "transaction_id": "T1234"}, response_only=True),
            OpenApiExample("declined", value={"error": "INSUFFICIENT_FUNDS"}, response_only=True),
        ],
    )
    def post(self, request: Request) -> HttpResponse:  # for the schema; requests go through dispatch
        return self._handle(request)


class RollbackView(_Callback):
    parse = staticmethod(protocol.parse_rollback)
    process = staticmethod(services.rollback_process)

    @extend_schema(
        operation_id="igpx_transaction_rollback",
        tags=["igpx"],
        summary="IGPX rollback of an earlier bet or result",
        description=_DESCRIPTION,
        parameters=[_SIGNATURE],
        auth=[],
        request=inline_serializer(
            name="IgpxRollbackRequest",
            fields={
                "transaction_id": serializers.CharField(),
                "rollback_transaction_id": serializers.CharField(),
                "action": serializers.ChoiceField(choices=["rollback"]),
                "user_id": serializers.CharField(),
                "currency": serializers.CharField(),
                "amount": _AMOUNT,
            },
        ),
        responses={200: _RESPONSE},
    )
    def post(self, request: Request) -> HttpResponse:  # for the schema; requests go through dispatch
        return self._handle(request)
