"""A local Unified Odds Feed: realistic traffic on the wire format, and a fake REST API.

FeedSimulator publishes, with correct routing keys:
  - the shared sample messages (feeds/simdata/uof, byte-identical copies of tests/fixtures/uof);
  - generated soccer matches: a fixture_change for each new match, prematch odds (producer 3),
    hand-over to live (producer 1), live odds changes, bet stops around goals, the end of the
    match with settlements (scouted, then confirmed), occasional cancels with a window and their
    rollbacks, settlement rollbacks with a re-settlement;
  - alives every 10 s per producer, producer outages (silence or subscribed=0), and the answer
    to recovery requests: the requested producer's current odds tagged with the request_id,
    then snapshot_complete.
It publishes through a sink: AmqpSink (RabbitMQ exchange) or DirectSink (the apply pipeline,
in-process, for the embedded demo without a broker).

FakeUofApi is a small threaded HTTP server speaking the REST API: whoami, producers (api_url
pointing back at itself), market/variant descriptions, fixtures of simulated and sample events,
code lists, and recovery requests (producer and event), checking x-access-token.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import escape, quoteattr

from feeds.protocol.messages import parse_message
from feeds.protocol.producers import KNOWN_PRODUCERS
from feeds.protocol.routing import build_routing_key

logger = logging.getLogger("touchline.feeds.simulator")

SIMDATA = Path(__file__).resolve().parent / "simdata" / "uof"
LIVE, PREMATCH = 1, 3
FEED_SAMPLES = (
    "fixture_change_1.xml",
    "odds_change_1.xml",
    "odds_change_2.xml",
    "odds_change_3.xml",
    "odds_change_4.xml",
    "odds_change_5.xml",
    "bet_stop_1.xml",
    "bet_stop_2.xml",
    "bet_settlement_1.xml",
    "bet_settlement_2.xml",
    "bet_settlement_3.xml",
    "bet_cancel_1.xml",
    "bet_cancel_2.xml",
    "rollback_bet_cancel_1.xml",
    "rollback_bet_cancel_2.xml",
    "rollback_bet_settlement_1.xml",
    "rollback_bet_settlement_2.xml",
    "alive_1.xml",
    "alive_2.xml",
    "snapshot_complete_1.xml",
)
TEAMS = (
    "Aurora FC", "Blackwater United", "Cedar Town", "Dunmore Rovers", "Eastfield City", "Fairhaven Athletic",
    "Glenrock", "Harbour Wanderers", "Ironbridge", "Juniper Park", "Kingsmoor", "Lakeside Albion",
    "Millbrook", "Northgate", "Oakham Villa", "Port Rowan", "Queensbury", "Riverside Rangers",
)  # fmt: skip


def now_ms() -> int:
    return int(time.time() * 1000)


def sample_bytes(name: str) -> bytes:
    return (SIMDATA / name).read_bytes()


def routing_key_for(body: bytes, *, node_id: int | None = None, sport_id: int | None = 1) -> str:
    """A plausible routing key for a message body (sample replays, files)."""
    msg = parse_message(body)
    scope = KNOWN_PRODUCERS.get(msg.product)
    event_urn = getattr(msg, "event_urn", None)
    system = msg.kind in ("alive", "snapshot_complete")
    return build_routing_key(
        message_type=msg.kind,
        prematch=bool(scope and "prematch" in scope.scope and not system),
        virtual=bool(scope and scope.scope == "virtual" and not system),
        live=bool(scope and "live" in scope.scope and not system),
        sport_id=None if system else sport_id,
        event_urn=event_urn,
        node_id=node_id if getattr(msg, "request_id", None) is not None else None,
    )


# --- sinks -------------------------------------------------------------------------------------------


class Sink(Protocol):
    def send(self, routing_key: str, body: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class AmqpSink:
    """Publishes to a topic exchange on RabbitMQ (declared if missing: local broker only)."""

    def __init__(self, url: str, exchange: str) -> None:
        import pika

        self._pika = pika
        self.exchange = exchange
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.sent = 0

    def send(self, routing_key: str, body: bytes) -> None:
        props = self._pika.BasicProperties(timestamp=int(time.time()), content_type="text/xml")
        self.channel.basic_publish(self.exchange, routing_key, body, properties=props)
        self.sent += 1

    def flush(self) -> None:
        self.connection.process_data_events(time_limit=0)

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


class DirectSink:
    """Feeds the apply pipeline in-process (the embedded demo: no broker)."""

    def __init__(self, *, batch_size: int = 200, on_result: Callable | None = None) -> None:
        self.batch_size = batch_size
        self.on_result = on_result
        self._buffer: list = []
        self.sent = 0

    def send(self, routing_key: str, body: bytes) -> None:
        from feeds.models import FeedMessage
        from feeds.services.ingest import Incoming

        self._buffer.append(Incoming(body=body, routing_key=routing_key, source=FeedMessage.Source.SIMULATOR))
        self.sent += 1
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        from feeds.services.ingest import apply_batch

        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        result = apply_batch(batch)
        if self.on_result:
            self.on_result(result)

    def close(self) -> None:
        self.flush()


class ListSink:
    """Collects (routing key, body) pairs (tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    @property
    def sent(self) -> int:
        return len(self.messages)

    def send(self, routing_key: str, body: bytes) -> None:
        self.messages.append((routing_key, body))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


# --- simulated matches --------------------------------------------------------------------------------

TWO = Decimal("0.01")


def _odds(probability: float, margin: float = 1.06) -> Decimal:
    value = max(1.01, min(1000.0, 1 / max(probability * margin, 0.001)))
    return Decimal(str(value)).quantize(TWO, rounding=ROUND_HALF_UP)


@dataclass
class SimMarket:
    id: int
    specifiers: str
    outcomes: dict[str, Decimal]
    status: int = 1


@dataclass
class SimEvent:
    urn: str
    home: str
    away: str
    start_at: float  # simulator clock (s)
    producer: int = PREMATCH
    minute: int = 0
    home_score: int = 0
    away_score: int = 0
    half_goals: int = 0
    strength: float = 0.5  # home win propensity
    markets: list[SimMarket] = field(default_factory=list)
    phase: str = "prematch"  # prematch, live, ended
    live_since: float = 0.0
    stopped_until: float = 0.0
    settled_at: float = 0.0
    cancel: tuple[int, int, int, str] | None = None  # (market id, start, end, specifiers) pending rollback

    @property
    def event_id(self) -> int:
        return int(self.urn.rsplit(":", 1)[1])


def _price(event: SimEvent) -> list[SimMarket]:
    """Odds from a crude goal model: good enough to look alive, not to bet on."""
    p_home = min(0.8, max(0.1, event.strength + 0.08 * (event.home_score - event.away_score)))
    p_draw = 0.27 if event.home_score == event.away_score else 0.18
    p_away = max(0.05, 1 - p_home - p_draw)
    remaining = max(0.05, (90 - event.minute) / 90)
    goals = event.home_score + event.away_score
    expected = goals + 2.7 * remaining
    jitter = random.uniform(0.97, 1.03)
    markets = [
        SimMarket(1, "", {"1": _odds(p_home * jitter), "2": _odds(p_draw), "3": _odds(p_away / jitter)}),
        SimMarket(10, "", {"9": _odds(p_home + p_draw), "10": _odds(p_home + p_away), "11": _odds(p_draw + p_away)}),
        SimMarket(11, "", {"4": _odds(p_home / (p_home + p_away)), "5": _odds(p_away / (p_home + p_away))}),
        SimMarket(29, "", {"74": _odds(0.55 * remaining + 0.2), "76": _odds(0.8 - 0.55 * remaining)}),
        SimMarket(26, "", {"70": _odds(0.5 * jitter), "72": _odds(0.5 / jitter)}),
    ]
    for line in ("1.5", "2.5", "3.5", "4.5"):
        p_over = min(0.95, max(0.05, 0.5 + (expected - float(line)) / 3))
        status = 1 if goals < float(line) else 0  # a line already over is decided
        markets.append(SimMarket(18, f"total={line}", {"12": _odds(p_over), "13": _odds(1 - p_over)}, status))
    for hcp in ("-1.5", "-0.5", "0.5", "1.5"):
        p = min(0.95, max(0.05, p_home + float(hcp) * 0.18))
        markets.append(SimMarket(16, f"hcp={hcp}", {"1714": _odds(p), "1715": _odds(1 - p)}))
    for hcp in ("0:1", "1:0"):
        p = min(0.9, max(0.05, p_home + (0.15 if hcp == "1:0" else -0.15)))
        markets.append(
            SimMarket(14, f"hcp={hcp}", {"1711": _odds(p), "1712": _odds(0.25), "1713": _odds(max(0.05, 0.75 - p))})
        )
    return markets


def _results(event: SimEvent, market: SimMarket) -> dict[str, tuple[int, str | None, str | None]]:
    """outcome id -> (result, void_factor, dead_heat_factor) from the final score."""
    h, a = event.home_score, event.away_score
    goals = h + a
    res: dict[str, tuple[int, str | None, str | None]] = {}
    if market.id == 1:
        win = "1" if h > a else ("2" if h == a else "3")
        res = {o: (int(o == win), None, None) for o in market.outcomes}
    elif market.id == 10:
        res = {"9": (int(h >= a), None, None), "10": (int(h != a), None, None), "11": (int(a >= h), None, None)}
    elif market.id == 11:
        if h == a:
            res = {"4": (0, "1", None), "5": (0, "1", None)}  # draw: stakes returned
        else:
            res = {"4": (int(h > a), None, None), "5": (int(a > h), None, None)}
    elif market.id == 29:
        res = {"74": (int(h > 0 and a > 0), None, None), "76": (int(not (h > 0 and a > 0)), None, None)}
    elif market.id == 26:
        res = {"70": (goals % 2, None, None), "72": (1 - goals % 2, None, None)}
    elif market.id == 18:
        line = float(market.specifiers.split("=")[1])
        res = {"12": (int(goals > line), None, None), "13": (int(goals < line), None, None)}
    elif market.id == 16:
        hcp = float(market.specifiers.split("=")[1])
        res = {"1714": (int(h + hcp > a), None, None), "1715": (int(h + hcp < a), None, None)}
    elif market.id == 14:
        ha, aa = (int(x) for x in market.specifiers.split("=")[1].split(":"))
        hh, hw = h + ha, a + aa
        win = "1711" if hh > hw else ("1712" if hh == hw else "1713")
        res = {o: (int(o == win), None, None) for o in market.outcomes}
    return res


class FeedSimulator:
    """Generates UOF traffic into a sink. Call step() in a loop; not thread-safe except
    for request_recovery(), which the fake API calls from its own threads."""

    def __init__(
        self,
        sink: Sink,
        *,
        events: int = 6,
        rate: float = 20.0,
        seed: int | None = None,
        node_id: int | None = None,
        match_seconds: float = 240.0,
        prematch_seconds: float = 40.0,
        outage_every: float = 0.0,
        outage_seconds: float = 25.0,
        alive_interval: float = 10.0,
        first_event_id: int = 70_000_001,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.events_wanted = events
        self.rate = rate
        self.node_id = node_id
        self.match_seconds = match_seconds
        self.prematch_seconds = prematch_seconds
        self.outage_every = outage_every
        self.outage_seconds = outage_seconds
        self.alive_interval = alive_interval
        self.clock = clock
        self.random = random.Random(seed)
        self.events: dict[str, SimEvent] = {}
        self._next_id = first_event_id
        self._last_alive: dict[int, float] = {}
        self.silent_until: dict[int, float] = {}
        self.unsubscribed_until: dict[int, float] = {}
        self._next_outage = self.clock() + outage_every if outage_every else float("inf")
        self._credit = 0.0
        self._last_step = self.clock()
        self._recoveries: queue.Queue[tuple[str, int, int, int | None, str | None]] = queue.Queue()
        self.counts: dict[str, int] = {}
        self.recoveries_answered = 0

    # --- publishing -----------------------------------------------------------------------------

    def _send(
        self, kind: str, body: str, *, product: int, event_urn: str | None = None, request_id: int | None = None
    ) -> None:
        system = kind in ("alive", "snapshot_complete")
        key = build_routing_key(
            message_type=kind,
            prematch=product == PREMATCH and not system,
            live=product == LIVE and not system,
            sport_id=None if system else 1,
            event_urn=event_urn,
            node_id=self.node_id if request_id is not None else None,
        )
        self.sink.send(key, body.encode())
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def publish_samples(self) -> int:
        """The shared fixture messages, as received from Betradar (BOMs and all)."""
        for name in FEED_SAMPLES:
            body = sample_bytes(name)
            self.sink.send(routing_key_for(body), body)
            kind = name.rsplit("_", 1)[0]
            self.counts[kind] = self.counts.get(kind, 0) + 1
        return len(FEED_SAMPLES)

    def alive(self, product: int, *, subscribed: bool = True) -> None:
        self._send(
            "alive",
            f'<alive product="{product}" timestamp="{now_ms()}" subscribed="{int(subscribed)}"/>',
            product=product,
        )

    def _odds_change(
        self,
        event: SimEvent,
        markets: list[SimMarket],
        *,
        request_id: int | None = None,
        status: int | None = None,
        product: int | None = None,
    ) -> None:
        product = product or event.producer
        rid = f' request_id="{request_id}"' if request_id is not None else ""
        ses_status = (
            status if status is not None else (1 if event.phase == "live" else (3 if event.phase == "ended" else 0))
        )
        parts = [
            f'<odds_change product="{product}" event_id="{event.urn}" timestamp="{now_ms()}"{rid}>',
            f'<sport_event_status status="{ses_status}" match_status="{6 if event.minute <= 45 else 7}" '
            f'home_score="{event.home_score}" away_score="{event.away_score}"/>'
            if ses_status
            else '<sport_event_status status="0" match_status="0"/>',
            "<odds>",
        ]
        for mk in markets:
            spec = f" specifiers={quoteattr(mk.specifiers)}" if mk.specifiers else ""
            if mk.status in (1, -1):
                outcomes = "".join(f'<outcome id="{o}" odds="{odds}" active="1"/>' for o, odds in mk.outcomes.items())
                parts.append(f'<market id="{mk.id}"{spec} status="{mk.status}">{outcomes}</market>')
            else:
                parts.append(f'<market id="{mk.id}"{spec} status="{mk.status}"/>')
        parts.append("</odds></odds_change>")
        self._send("odds_change", "".join(parts), product=product, event_urn=event.urn, request_id=request_id)

    # --- lifecycle --------------------------------------------------------------------------------

    def _new_event(self, now: float) -> SimEvent:
        home, away = self.random.sample(TEAMS, 2)
        event = SimEvent(
            urn=f"sr:match:{self._next_id}",
            home=home,
            away=away,
            start_at=now + self.random.uniform(0.3, 1.0) * self.prematch_seconds,
            strength=self.random.uniform(0.3, 0.6),
        )
        self._next_id += 1
        event.markets = _price(event)
        self.events[event.urn] = event
        start_ms = now_ms() + int((event.start_at - now) * 1000)
        self._send(
            "fixture_change",
            f'<fixture_change event_id="{event.urn}" product="{PREMATCH}" change_type="1" start_time="{start_ms}" timestamp="{now_ms()}"/>',
            product=PREMATCH,
            event_urn=event.urn,
        )
        self._odds_change(event, event.markets)
        return event

    def fixture_xml(self, urn: str) -> bytes | None:
        event = self.events.get(urn)
        if event is None:
            return None
        start = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + (event.start_at - self.clock())))
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<fixtures_fixture xmlns="http://schemas.sportradar.com/sportsapi/v1/unified">'
            f'<fixture id="{urn}" scheduled="{start}" start_time="{start}" start_time_tbd="false" status="not_started">'
            '<tournament id="sr:tournament:9001" name="Touchline Simulated League">'
            '<sport id="sr:sport:1" name="Soccer"/><category id="sr:category:9001" name="Simland"/></tournament>'
            '<season id="sr:season:9001" name="Simulated League 2025"/>'
            "<competitors>"
            f'<competitor qualifier="home" id="sr:competitor:{90000 + TEAMS.index(event.home)}" name={quoteattr(event.home)} abbreviation="{escape(event.home[:3].upper())}"/>'
            f'<competitor qualifier="away" id="sr:competitor:{90000 + TEAMS.index(event.away)}" name={quoteattr(event.away)} abbreviation="{escape(event.away[:3].upper())}"/>'
            "</competitors></fixture></fixtures_fixture>"
        ).encode()

    def _kick_off(self, event: SimEvent, now: float) -> None:
        handed = [SimMarket(mk.id, mk.specifiers, mk.outcomes, -2) for mk in event.markets]
        self._odds_change(event, handed, product=PREMATCH, status=0)
        event.phase, event.producer, event.live_since = "live", LIVE, now
        event.markets = _price(event)
        self._odds_change(event, event.markets)

    def _goal(self, event: SimEvent, now: float) -> None:
        self._send(
            "bet_stop",
            f'<bet_stop groups="all" product="{event.producer}" event_id="{event.urn}" timestamp="{now_ms()}"/>',
            product=event.producer,
            event_urn=event.urn,
        )
        if self.random.random() < event.strength:
            event.home_score += 1
        else:
            event.away_score += 1
        if event.minute <= 45:
            event.half_goals += 1
        event.stopped_until = now + self.random.uniform(1.0, 3.0)

    def _settle(self, event: SimEvent, certainty: int) -> None:
        parts = [
            f'<bet_settlement certainty="{certainty}" product="{LIVE}" event_id="{event.urn}" timestamp="{now_ms()}"><outcomes>'
        ]
        for mk in event.markets:
            results = _results(event, mk)
            if not results:
                continue
            spec = f" specifiers={quoteattr(mk.specifiers)}" if mk.specifiers else ""
            parts.append(f'<market id="{mk.id}"{spec}>')
            for oid, (result, void, dead_heat) in results.items():
                extra = (f' void_factor="{void}"' if void else "") + (
                    f' dead_heat_factor="{dead_heat}"' if dead_heat else ""
                )
                parts.append(f'<outcome id="{oid}" result="{result}"{extra}/>')
            parts.append("</market>")
        parts.append("</outcomes></bet_settlement>")
        self._send("bet_settlement", "".join(parts), product=LIVE, event_urn=event.urn)

    def _end(self, event: SimEvent, now: float) -> None:
        event.phase = "ended"
        event.markets = [SimMarket(mk.id, mk.specifiers, mk.outcomes, -3) for mk in event.markets]
        self._odds_change(event, event.markets, status=3)
        self._settle(event, 1)
        event.settled_at = now

    def _maybe_cancel(self, event: SimEvent) -> None:
        ts = now_ms()
        if event.cancel is None and self.random.random() < 0.5:
            mk = self.random.choice(event.markets)
            event.cancel = (mk.id, ts - 60_000, ts - 30_000, mk.specifiers)
            spec = f" specifiers={quoteattr(mk.specifiers)}" if mk.specifiers else ""
            self._send(
                "bet_cancel",
                f'<bet_cancel product="{event.producer}" event_id="{event.urn}" timestamp="{ts}" start_time="{ts - 60_000}" '
                f'end_time="{ts - 30_000}"><market id="{mk.id}"{spec} void_reason="12"/></bet_cancel>',
                product=event.producer,
                event_urn=event.urn,
            )
        elif event.cancel is not None:
            market_id, start, end, specifiers = event.cancel
            spec = f" specifiers={quoteattr(specifiers)}" if specifiers else ""
            self._send(
                "rollback_bet_cancel",
                f'<rollback_bet_cancel product="{event.producer}" event_id="{event.urn}" timestamp="{ts}" '
                f'start_time="{start}" end_time="{end}"><market id="{market_id}"{spec}/></rollback_bet_cancel>',
                product=event.producer,
                event_urn=event.urn,
            )
            event.cancel = None

    def _rollback_settlement(self, event: SimEvent) -> None:
        mk = event.markets[0]
        self._send(
            "rollback_bet_settlement",
            f'<rollback_bet_settlement product="{LIVE}" event_id="{event.urn}" timestamp="{now_ms()}">'
            f'<market id="{mk.id}"/></rollback_bet_settlement>',
            product=LIVE,
            event_urn=event.urn,
        )

    # --- recovery ------------------------------------------------------------------------------------

    def request_recovery(
        self, product: int, request_id: int, node_id: int | None, event_urn: str | None = None
    ) -> None:
        """Called by the fake API (any thread): answer on the next step()."""
        self._recoveries.put(("producer" if event_urn is None else "event", product, request_id, node_id, event_urn))

    def _answer_recoveries(self) -> None:
        while True:
            try:
                kind, product, request_id, node_id, event_urn = self._recoveries.get_nowait()
            except queue.Empty:
                return
            saved, self.node_id = self.node_id, node_id
            try:
                for event in list(self.events.values()):
                    if event_urn is not None and event.urn != event_urn:
                        continue
                    if event.producer == product and event.phase != "ended":
                        self._odds_change(event, event.markets, request_id=request_id)
                self._send(
                    "snapshot_complete",
                    f'<snapshot_complete request_id="{request_id}" product="{product}" timestamp="{now_ms()}"/>',
                    product=product,
                    request_id=request_id,
                )
            finally:
                self.node_id = saved
            self.recoveries_answered += 1

    def outage(self, product: int, seconds: float | None = None, *, unsubscribed: bool = False) -> None:
        """Silence a producer (no alives, no messages), or send subscribed=0 alives for a while."""
        until = self.clock() + (seconds or self.outage_seconds)
        (self.unsubscribed_until if unsubscribed else self.silent_until)[product] = until

    # --- the loop ------------------------------------------------------------------------------------

    def step(self) -> None:
        now = self.clock()
        elapsed, self._last_step = now - self._last_step, now
        self._answer_recoveries()
        if now >= self._next_outage:
            self.outage(LIVE, unsubscribed=self.random.random() < 0.3)
            self._next_outage = now + self.outage_every
        for product in (LIVE, PREMATCH):
            if now < self.silent_until.get(product, 0):
                continue
            if now - self._last_alive.get(product, -1e9) >= self.alive_interval:
                self.alive(product, subscribed=now >= self.unsubscribed_until.get(product, 0))
                self._last_alive[product] = now
        while len([e for e in self.events.values() if e.phase != "ended"]) < self.events_wanted:
            self._new_event(now)
        for event in list(self.events.values()):
            silent = now < self.silent_until.get(event.producer, 0)
            if silent:
                continue
            if event.phase == "prematch" and now >= event.start_at:
                self._kick_off(event, now)
            elif event.phase == "live":
                event.minute = min(90, int((now - event.live_since) / self.match_seconds * 90))
                if event.minute >= 90:
                    self._end(event, now)
                elif event.stopped_until and now >= event.stopped_until:
                    event.stopped_until = 0.0
                    event.markets = _price(event)
                    self._odds_change(event, event.markets)
            elif event.phase == "ended" and event.settled_at and now - event.settled_at > 5:
                if self.random.random() < 0.3:
                    self._rollback_settlement(event)
                self._settle(event, 2)
                del self.events[event.urn]
        self._credit = min(self._credit + elapsed * self.rate, self.rate)
        live = [e for e in self.events.values() if e.phase in ("live", "prematch") and not e.stopped_until]
        while self._credit >= 1 and live:
            self._credit -= 1
            event = self.random.choice(live)
            if now < self.silent_until.get(event.producer, 0):
                continue
            roll = self.random.random()
            if event.phase == "live" and roll < 0.04:
                self._goal(event, now)
                live.remove(event)
            elif roll < 0.06:
                self._maybe_cancel(event)
            else:
                fresh = _price(event)
                picked = self.random.sample(range(len(fresh)), k=self.random.randint(3, min(10, len(fresh))))
                for i in picked:
                    event.markets[i] = fresh[i]
                self._odds_change(event, [event.markets[i] for i in sorted(picked)])
        self.sink.flush()


# --- the fake REST API ------------------------------------------------------------------------------------

_PRODUCER_PATHS = {p.path: p.id for p in KNOWN_PRODUCERS.values()}


class FakeUofApi:
    """GET descriptions/fixtures/whoami and POST recovery requests, like api.betradar.com/v1."""

    def __init__(
        self,
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        simulator: FeedSimulator | None = None,
        producers: tuple[int, ...] = (LIVE, PREMATCH),
    ) -> None:
        self.token = token
        self.simulator = simulator
        self.producers = producers
        self.requests: list[tuple[str, str]] = []
        self.recoveries: list[dict[str, object]] = []
        self.fail_recovery = False
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-uof-api", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeUofApi:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- responses -------------------------------------------------------------------------------

    def producers_xml(self) -> bytes:
        rows = []
        for p in KNOWN_PRODUCERS.values():
            active = "true" if p.id in self.producers else "false"
            rows.append(
                f'<producer id="{p.id}" name="{p.name}" description="{p.name}" api_url="{self.base_url}/{p.path}/" '
                f'active="{active}" scope="{p.scope}" stateful_recovery_window_in_minutes="{p.window_minutes}"/>'
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><producers response_code="OK">' + "".join(rows) + "</producers>"
        ).encode()

    def route(self, method: str, path: str, query: dict[str, list[str]], token: str | None) -> tuple[int, bytes]:
        self.requests.append(
            (method, path + ("?" + "&".join(f"{k}={v[0]}" for k, v in sorted(query.items())) if query else ""))
        )
        if token != self.token:
            return 403, _response("FORBIDDEN", "Access denied", "invalid or missing x-access-token")
        path = path.removeprefix("/v1")
        if method == "GET":
            return self._get(path)
        if method == "POST":
            return self._post(path, query)
        return 405, _response("METHOD_NOT_ALLOWED", "", method)

    def _get(self, path: str) -> tuple[int, bytes]:
        files = {
            "/users/whoami.xml": "rest_whoami_1.xml",
            "/descriptions/void_reasons.xml": "rest_void_reasons_1.xml",
            "/descriptions/betstop_reasons.xml": "rest_betstop_reasons_1.xml",
            "/descriptions/betting_status.xml": "rest_betting_status_1.xml",
            "/descriptions/en/match_status.xml": "rest_match_status_1.xml",
            "/descriptions/en/markets.xml": "rest_markets_1.xml",
            "/descriptions/en/variants.xml": "rest_variants_1.xml",
        }
        if path in files:
            return 200, sample_bytes(files[path])
        if path == "/descriptions/producers.xml":
            return 200, self.producers_xml()
        match = re.fullmatch(r"/descriptions/en/markets/(\d+)/variants/(.+)", path)
        if match:
            body = sample_bytes("rest_variant_market_1.xml")
            if match.group(1) == "10030" and unquote(match.group(2)) == "lcoo:markettext:33421":
                return 200, body
            return 404, sample_bytes("rest_not_found_1.xml")
        match = re.fullmatch(r"/sports/en/sport_events/([^/]+)/(fixture|fixture_change_fixture)\.xml", path)
        if match:
            urn = unquote(match.group(1))
            samples = {"sr:match:8696826": "rest_fixture_1.xml", "sr:match:18001015": "rest_fixture_2.xml"}
            if urn in samples:
                return 200, sample_bytes(samples[urn])
            body = self.simulator.fixture_xml(urn) if self.simulator else None
            if body is not None:
                return 200, body
        return 404, sample_bytes("rest_not_found_1.xml")

    def _post(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        parts = path.strip("/").split("/")
        product = _PRODUCER_PATHS.get(parts[0]) if parts else None
        if product is None:
            return 404, sample_bytes("rest_not_found_1.xml")
        if product not in self.producers:
            return 403, _response("FORBIDDEN", "Producer not enabled", f"producer {product}")
        try:
            request_id = int(query["request_id"][0])
        except (KeyError, ValueError):
            return 400, _response("BAD_REQUEST", "", "request_id is required")
        node = query.get("node_id", [None])[0]
        node_id = int(node) if node not in (None, "") else None
        after = query.get("after", [None])[0]
        event_urn = None
        if parts[1:] == ["recovery", "initiate_request"]:
            pass
        elif (
            len(parts) == 5
            and parts[1] in ("odds", "stateful_messages")
            and parts[2] == "events"
            and parts[4] == "initiate_request"
        ):
            event_urn = unquote(parts[3])
        else:
            return 404, sample_bytes("rest_not_found_1.xml")
        self.recoveries.append(
            {"product": product, "request_id": request_id, "node_id": node_id, "after": after, "event": event_urn}
        )
        if self.fail_recovery:
            return 500, _response("INTERNAL_SERVER_ERROR", "", "simulated failure")
        if self.simulator is not None:
            self.simulator.request_recovery(product, request_id, node_id, event_urn)
        return 202, _response("ACCEPTED", "Request for recovery accepted", f"request_id={request_id}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                try:
                    status, body = api.route(method, url.path, parse_qs(url.query), self.headers.get("x-access-token"))
                except Exception as exc:  # a fake server must not die on a bug
                    logger.exception("fake UOF API")
                    status, body = 500, _response("INTERNAL_SERVER_ERROR", "", str(exc))
                self.send_response(status)
                self.send_header("content-type", "application/xml")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                logger.debug("fake UOF API: " + format, *args)

        return Handler


def _response(code: str, action: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><response response_code="{code}">'
        f"<action>{escape(action)}</action><message>{escape(message)}</message></response>"
    ).encode()
