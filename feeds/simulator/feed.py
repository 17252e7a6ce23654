"""FeedSimulator: UOF traffic for the simulated matches, published into a sink with correct
routing keys (see the package's docstring for what it sends)."""

from __future__ import annotations

import queue
import random
import time
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from feeds.protocol.routing import build_routing_key
from feeds.simulator.matches import LIVE, PREMATCH, TEAMS, SimEvent, SimMarket, market_results, price_markets
from feeds.simulator.samples import FEED_SAMPLES, now_ms, routing_key_for, sample_bytes
from feeds.simulator.sinks import Sink


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
        event.markets = price_markets(event)
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
        event.markets = price_markets(event)
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
            results = market_results(event, mk)
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
                    event.markets = price_markets(event)
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
                fresh = price_markets(event)
                picked = self.random.sample(range(len(fresh)), k=self.random.randint(3, min(10, len(fresh))))
                for i in picked:
                    event.markets[i] = fresh[i]
                self._odds_change(event, [event.markets[i] for i in sorted(picked)])
        self.sink.flush()
