"""Pure parsers for UOF REST API responses (bytes in, dataclasses out), through defusedxml.

REST XML uses the default namespace http://schemas.sportradar.com/sportsapi/v1/unified on some
endpoints and none on others; tag names are compared without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from feeds.protocol.errors import MalformedMessage, UofApiError, UofNotFound
from feeds.protocol.xmlsafe import Element, child, children, local, parse_defused


def _root(body: bytes) -> Element:
    root = parse_defused(body)
    name = local(root.tag)
    if name in ("page_not_found", "error"):
        raise UofNotFound(root.get("message") or name, response_code="NOT_FOUND")
    code = root.get("response_code")
    if code and code not in ("OK", "ACCEPTED", "CREATED"):
        message = child(root, "message")
        raise UofApiError(
            f"{name}: response_code={code} {message.text if message is not None else ''}".strip(),
            response_code=code,
        )
    return root


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class BookmakerDetails:
    bookmaker_id: int
    virtual_host: str
    expire_at: datetime | None


def parse_whoami(body: bytes) -> BookmakerDetails:
    root = _root(body)
    try:
        return BookmakerDetails(
            bookmaker_id=int(root.get("bookmaker_id", "")),
            virtual_host=root.get("virtual_host", ""),
            expire_at=_iso(root.get("expire_at")),
        )
    except ValueError:
        raise MalformedMessage("bookmaker_details without a numeric bookmaker_id") from None


@dataclass(frozen=True, slots=True)
class ProducerInfo:
    id: int
    name: str
    description: str
    api_url: str
    active: bool
    scope: tuple[str, ...]
    recovery_window_minutes: int


def parse_producers(body: bytes) -> list[ProducerInfo]:
    producers = []
    for el in children(_root(body), "producer"):
        try:
            producers.append(
                ProducerInfo(
                    id=int(el.get("id", "")),
                    name=el.get("name", ""),
                    description=el.get("description", ""),
                    api_url=el.get("api_url", ""),
                    active=el.get("active", "false").lower() == "true",
                    scope=tuple(s for s in el.get("scope", "").split("|") if s),
                    recovery_window_minutes=int(el.get("stateful_recovery_window_in_minutes") or 4320),
                )
            )
        except ValueError:
            raise MalformedMessage(f"producer with invalid id or window: {el.attrib}") from None
    return producers


@dataclass(frozen=True, slots=True)
class OutcomeDescription:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class MarketDescription:
    id: int
    name: str
    variant: str  # '' for the base description
    groups: tuple[str, ...]
    outcomes: tuple[OutcomeDescription, ...]
    specifiers: tuple[tuple[str, str], ...]  # (name, type)
    outcome_type: str = ""
    includes_outcomes_of_type: str = ""
    attributes: tuple[str, ...] = ()


def _outcomes(el: Element) -> tuple[OutcomeDescription, ...]:
    container = child(el, "outcomes")
    if container is None:
        return ()
    return tuple(OutcomeDescription(id=o.get("id", ""), name=o.get("name", "")) for o in children(container, "outcome"))


def parse_market_descriptions(body: bytes) -> list[MarketDescription]:
    """descriptions/{lang}/markets.xml and …/markets/{id}/variants/{variant} (same shape)."""
    result = []
    for el in children(_root(body), "market"):
        specs = child(el, "specifiers")
        attrs = child(el, "attributes")
        try:
            market_id = int(el.get("id", ""))
        except ValueError:
            raise MalformedMessage(f"market description without numeric id: {el.attrib}") from None
        result.append(
            MarketDescription(
                id=market_id,
                name=el.get("name", ""),
                variant=el.get("variant", ""),
                groups=tuple(g for g in el.get("groups", "").split("|") if g),
                outcomes=_outcomes(el),
                specifiers=tuple(
                    (s.get("name", ""), s.get("type", ""))
                    for s in (children(specs, "specifier") if specs is not None else [])
                ),
                outcome_type=el.get("outcome_type", ""),
                includes_outcomes_of_type=el.get("includes_outcomes_of_type", ""),
                attributes=tuple(
                    a.get("name", "") for a in (children(attrs, "attribute") if attrs is not None else [])
                ),
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class VariantDescription:
    id: str
    outcomes: tuple[OutcomeDescription, ...]


def parse_variant_descriptions(body: bytes) -> list[VariantDescription]:
    return [VariantDescription(id=el.get("id", ""), outcomes=_outcomes(el)) for el in children(_root(body), "variant")]


@dataclass(frozen=True, slots=True)
class Competitor:
    id: str
    name: str
    qualifier: str = ""
    abbreviation: str = ""
    country_code: str = ""


@dataclass(frozen=True, slots=True)
class Fixture:
    urn: str
    scheduled: datetime | None
    start_time: datetime | None
    start_time_tbd: bool
    status: str
    sport_urn: str
    sport_name: str
    category_name: str
    tournament_urn: str
    tournament_name: str
    season_urn: str
    season_name: str
    competitors: tuple[Competitor, ...]
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def sport_id(self) -> int | None:
        tail = self.sport_urn.rpartition(":")[2]
        return int(tail) if tail.isdigit() else None


def parse_fixture(body: bytes) -> Fixture:
    root = _root(body)
    fixture = child(root, "fixture") if local(root.tag) != "fixture" else root
    if fixture is None or not fixture.get("id"):
        raise MalformedMessage("fixtures_fixture without a fixture id")
    tournament = child(fixture, "tournament")
    sport = child(tournament, "sport") if tournament is not None else None
    category = child(tournament, "category") if tournament is not None else None
    season = child(fixture, "season")
    comps = child(fixture, "competitors")
    extra_info = child(fixture, "extra_info")
    return Fixture(
        urn=fixture.get("id", ""),
        scheduled=_iso(fixture.get("scheduled")),
        start_time=_iso(fixture.get("start_time")),
        start_time_tbd=fixture.get("start_time_tbd", "false") == "true",
        status=fixture.get("status", ""),
        sport_urn=sport.get("id", "") if sport is not None else "",
        sport_name=sport.get("name", "") if sport is not None else "",
        category_name=category.get("name", "") if category is not None else "",
        tournament_urn=tournament.get("id", "") if tournament is not None else "",
        tournament_name=tournament.get("name", "") if tournament is not None else "",
        season_urn=season.get("id", "") if season is not None else "",
        season_name=season.get("name", "") if season is not None else "",
        competitors=tuple(
            Competitor(
                id=c.get("id", ""),
                name=c.get("name", ""),
                qualifier=c.get("qualifier", ""),
                abbreviation=c.get("abbreviation", ""),
                country_code=c.get("country_code", ""),
            )
            for c in (children(comps, "competitor") if comps is not None else [])
        ),
        extra={
            i.get("key", ""): i.get("value", "")
            for i in (children(extra_info, "info") if extra_info is not None else [])
        },
    )


@dataclass(frozen=True, slots=True)
class ApiResponse:
    response_code: str
    action: str
    message: str


def parse_response(body: bytes) -> ApiResponse:
    """<response response_code="ACCEPTED"> from recovery requests (errors raise UofApiError)."""
    root = _root(body)
    action = child(root, "action")
    message = child(root, "message")
    return ApiResponse(
        response_code=root.get("response_code", ""),
        action=(action.text or "") if action is not None else "",
        message=(message.text or "") if message is not None else "",
    )


def parse_code_list(body: bytes) -> dict[int, str]:
    """void_reasons.xml, betstop_reasons.xml, betting_status.xml, match_status.xml: id -> description."""
    result = {}
    for el in _root(body):
        ident = el.get("id")
        if ident is not None and ident.lstrip("-").isdigit():
            result[int(ident)] = el.get("description", "")
    return result
