"""UOF REST API client (httpx). Transport only: every body goes through feeds.protocol.rest.

Never call it inside a database transaction: the recovery and fixture services call it between
transactions.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from feeds.protocol import rest
from feeds.protocol.errors import MalformedMessage, UofApiError, UofError, UofNotFound

logger = logging.getLogger("touchline.feeds.client")


class UofClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        lang: str = "en",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.lang = lang
        self._http = httpx.Client(
            headers={"x-access-token": token, "accept": "application/xml"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> UofClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def _call(self, method: str, path: str, params: dict[str, object] | None = None) -> bytes:
        url = self._url(path)
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, url, params=clean)
        except httpx.HTTPError as exc:
            raise UofApiError(f"{method} {url}: {exc.__class__.__name__}: {exc}", status=None) from exc
        if response.status_code >= 400:
            detail = response.text[:300]
            code = None
            try:
                rest.parse_response(response.content)
            except UofApiError as parsed:
                code = parsed.response_code
                detail = str(parsed)
            except UofError:
                pass
            if response.status_code == 404:
                raise UofNotFound(f"{method} {url}: 404 {detail}", status=404, response_code=code or "NOT_FOUND")
            raise UofApiError(
                f"{method} {url}: HTTP {response.status_code} {detail}", status=response.status_code, response_code=code
            )
        return response.content

    # --- endpoints ---------------------------------------------------------------------------

    def whoami(self) -> rest.BookmakerDetails:
        return rest.parse_whoami(self._call("GET", "users/whoami.xml"))

    def producers(self) -> list[rest.ProducerInfo]:
        return rest.parse_producers(self._call("GET", "descriptions/producers.xml"))

    def market_descriptions(self) -> list[rest.MarketDescription]:
        return rest.parse_market_descriptions(self._call("GET", f"descriptions/{self.lang}/markets.xml"))

    def variant_descriptions(self) -> list[rest.VariantDescription]:
        return rest.parse_variant_descriptions(self._call("GET", f"descriptions/{self.lang}/variants.xml"))

    def variant_market(self, market_id: int, variant: str) -> list[rest.MarketDescription]:
        path = f"descriptions/{self.lang}/markets/{market_id}/variants/{quote(variant, safe='')}"
        return rest.parse_market_descriptions(self._call("GET", path))

    def fixture(self, event_urn: str, *, uncached: bool = False) -> rest.Fixture:
        name = "fixture_change_fixture.xml" if uncached else "fixture.xml"
        return rest.parse_fixture(
            self._call("GET", f"sports/{self.lang}/sport_events/{quote(event_urn, safe=':')}/{name}")
        )

    def code_list(self, name: str) -> dict[int, str]:
        """name: void_reasons, betstop_reasons, betting_status, or '{lang}/match_status'."""
        return rest.parse_code_list(self._call("GET", f"descriptions/{name}.xml"))

    def _recovery(self, api_url: str, path: str, params: dict[str, object]) -> rest.ApiResponse:
        base = api_url if api_url.endswith("/") else api_url + "/"
        body = self._call("POST", base + path, params)
        try:
            return rest.parse_response(body)
        except MalformedMessage:
            # Some deployments answer 202 with an empty body: accepted.
            return rest.ApiResponse(response_code="ACCEPTED", action="", message="")

    def initiate_recovery(
        self, api_url: str, *, request_id: int, node_id: int | None, after: int | None
    ) -> rest.ApiResponse:
        """POST {api_url}recovery/initiate_request; after=None asks for a full recovery."""
        params = {"after": after, "request_id": request_id, "node_id": node_id}
        return self._recovery(api_url, "recovery/initiate_request", params)

    def recover_event_odds(
        self, api_url: str, event_urn: str, *, request_id: int, node_id: int | None
    ) -> rest.ApiResponse:
        path = f"odds/events/{quote(event_urn, safe=':')}/initiate_request"
        return self._recovery(api_url, path, {"request_id": request_id, "node_id": node_id})

    def recover_event_stateful(
        self, api_url: str, event_urn: str, *, request_id: int, node_id: int | None
    ) -> rest.ApiResponse:
        path = f"stateful_messages/events/{quote(event_urn, safe=':')}/initiate_request"
        return self._recovery(api_url, path, {"request_id": request_id, "node_id": node_id})
