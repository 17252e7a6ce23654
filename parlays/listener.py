"""The ProphetX parlay WebSocket listener: a Pusher-protocol client on `websockets`.

Per connection: GET connection-config → connect → pusher:connection_established (socket_id) →
POST register (socket_id) → pusher:subscribe to each authorised channel with its auth → wait
for every subscription_succeeded. Every new connection has a new socket_id, so it registers and
subscribes again (never reusing old auth).

Liveness: pusher:ping after `activity_timeout` of silence, reconnect when no pong follows;
reconnect when no `health_check` came for `health_timeout_s` (30 s, as the seed asks); reconnect
with exponential backoff and jitter on any drop. pusher:error 4000–4099 means configuration is
wrong: we wait long instead of hammering, 4200–4299 reconnect at once.

Work: the loop only reads frames. price.ask.new goes to a pool of quote threads (the hot path);
every other topic goes, in arrival order, to one serial thread, so a finalize is never handled
before the confirmation it follows. REST control calls (config, register, token refresh) use a
third small pool so they never queue behind quotes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from parlays.conf import ParlaySettings
from parlays.dispatch import Dispatcher
from parlays.models import InboundMessage
from parlays.protocol import pusher
from parlays.protocol.errors import ProphetXAPIError, ProtocolError
from parlays.protocol.messages import HEALTH_CHECK, PRICE_ASK, PRICE_CONFIRM
from parlays.protocol.rest import ProphetXClient
from parlays.services import inbound, reconciliation

logger = logging.getLogger("touchline.parlays.listener")

HEALTHY_SESSION_S = 60.0  # a session that lasted this long resets the backoff
FATAL_WAIT_S = 300.0
# Backoff ceiling: a server back after an outage is rejoined within about this long (the
# PROPHETX_RECONNECT_MAX_BACKOFF_S setting can only lower it). Quotes stop while we are away.
RECONNECT_CAP_S = 10.0


def reconnect_delay(attempt: int, max_backoff_s: float, rng: random.Random | None = None) -> float:
    """Seconds before reconnect `attempt` (0-based): exponential from 0.5 s, capped near 10 s,
    jittered over the upper half so that many clients do not come back in step."""
    ceiling = min(max_backoff_s, RECONNECT_CAP_S, 0.5 * 2 ** min(attempt, 16))
    return ceiling * (rng or random).uniform(0.5, 1.0)


class Reconnect(Exception):
    def __init__(self, reason: str, *, immediate: bool = False) -> None:
        super().__init__(reason)
        self.immediate = immediate


class FatalPusherError(Exception):
    pass


class Listener:
    def __init__(
        self,
        *,
        client: ProphetXClient,
        dispatcher: Dispatcher,
        settings: ParlaySettings,
        ws_url_override: str = "",
        maintenance_interval_s: float = 5.0,
        on_connected: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.dispatcher = dispatcher
        self.settings = settings
        self.ws_url_override = ws_url_override
        self.maintenance_interval_s = maintenance_interval_s
        self.on_connected = on_connected
        self.health: inbound.ListenerHealth = dispatcher.health
        self.ask_pool = ThreadPoolExecutor(settings.quote_workers, thread_name_prefix="px-quote")
        self.serial_pool = ThreadPoolExecutor(1, thread_name_prefix="px-orders")
        self.io_pool = ThreadPoolExecutor(2, thread_name_prefix="px-io")
        self._pending_asks = 0
        self._pending_lock = threading.Lock()
        self.connections = 0
        self.socket_ids: list[str] = []
        self.reconnect_reasons: list[str] = []
        self.connected = threading.Event()
        self._config: pusher.ConnectionConfig | None = None
        self._config_read_at = 0.0
        self._timers: list[threading.Timer] = []
        dispatcher.on_ambiguous_accept = self.schedule_order_checks

    # --- helpers -------------------------------------------------------------------------------

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.io_pool, fn, *args)

    def schedule_order_checks(self, order_uuid: str) -> None:
        """An accept we could not deliver: look for the order at +3 s, +15 s, +60 s."""
        delays = reconciliation.CHECK_DELAYS_S
        for index, delay in enumerate(delays):
            final = index == len(delays) - 1

            def run(final: bool = final) -> None:
                self.serial_pool.submit(self._check_order, order_uuid, final)

            timer = threading.Timer(delay, run)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def _check_order(self, order_uuid: str, final: bool) -> None:
        try:
            result = reconciliation.check_order(self.client, order_uuid, settings=self.settings, final=final)
            logger.info("order check %s: %s", order_uuid, result)
        except Exception:
            logger.exception("order check %s failed", order_uuid)

    # --- main loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        maintenance = asyncio.create_task(self._maintenance(stop))
        try:
            while not stop.is_set():
                started = time.monotonic()
                delay = 0.0
                try:
                    await self._session(stop)
                except Reconnect as exc:
                    self._note_drop(str(exc))
                    delay = 0.0 if exc.immediate else None  # type: ignore[assignment]
                except FatalPusherError as exc:
                    self._note_drop(f"fatal: {exc}")
                    logger.critical(
                        "ProphetX refused the connection (%s); check configuration. Retrying in %ss", exc, FATAL_WAIT_S
                    )
                    delay = FATAL_WAIT_S
                except (
                    ConnectionClosed,
                    OSError,
                    InvalidHandshake,
                    InvalidURI,
                    TimeoutError,
                    ProtocolError,
                    ProphetXAPIError,
                ) as exc:
                    self._note_drop(f"{type(exc).__name__}: {exc}")
                    delay = None  # type: ignore[assignment]
                if stop.is_set():
                    break
                if time.monotonic() - started > HEALTHY_SESSION_S:
                    attempt = 0
                if delay is None:
                    delay = reconnect_delay(attempt, self.settings.reconnect_max_backoff_s)
                    attempt += 1
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            maintenance.cancel()
            self.connected.clear()
            self.health.update(connected=False)
            await asyncio.get_running_loop().run_in_executor(self.io_pool, self._flush_health)
            for timer in self._timers:
                timer.cancel()

    def shutdown(self) -> None:
        for pool, size in ((self.ask_pool, self.settings.quote_workers), (self.serial_pool, 1), (self.io_pool, 2)):
            _close_thread_connections(pool, size)
            pool.shutdown(wait=True)
        self.dispatcher.quotes.recorder.stop()

    def _note_drop(self, reason: str) -> None:
        self.connected.clear()
        self.reconnect_reasons.append(reason)
        logger.warning("ProphetX WebSocket: %s; reconnecting", reason)
        self.health.update(connected=False, last_error=reason[:1000])

    async def _connection_config(self) -> pusher.ConnectionConfig:
        # Re-read at least every 30 min: the cluster can move.
        if self._config is None or time.monotonic() - self._config_read_at > self.settings.config_reread_s:
            self._config = await self._io(self.client.connection_config)
            self._config_read_at = time.monotonic()
        return self._config

    async def _session(self, stop: asyncio.Event) -> None:
        config = await self._connection_config()
        url = pusher.ws_url(config, override=self.ws_url_override)
        async with connect(
            url, ping_interval=None, compression=None, open_timeout=10, close_timeout=2, max_size=2**20, proxy=None
        ) as ws:
            first = await asyncio.wait_for(ws.recv(), timeout=10)
            socket_id, activity_timeout = pusher.parse_connection_established(pusher.parse_frame(first))
            channels = await self._io(self.client.register_socket, socket_id)
            for channel in channels:
                await ws.send(pusher.subscribe_frame(channel.name, channel.auth))
            await self._await_subscriptions(ws, {c.name for c in channels})
            self.connections += 1
            self.socket_ids.append(socket_id)
            self.health.connected(socket_id, [c.name for c in channels])
            self.connected.set()
            logger.info("ProphetX WebSocket connected, socket %s, channels %s", socket_id, [c.name for c in channels])
            if self.on_connected:
                self.on_connected(socket_id)
            await self._read(ws, stop, activity_timeout, config)

    async def _await_subscriptions(self, ws: Any, pending: set[str]) -> None:
        deadline = time.monotonic() + 10
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Reconnect(f"no subscription_succeeded for {sorted(pending)}")
            raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
            received_ns = time.perf_counter_ns()
            frame = pusher.parse_frame(raw)
            if frame.event == pusher.SUBSCRIPTION_SUCCEEDED:
                pending.discard(frame.channel)
            elif frame.event in (pusher.SUBSCRIPTION_ERROR, pusher.ERROR):
                code, message = pusher.parse_error(frame)
                if pusher.error_action(code) == "fatal" or frame.event == pusher.SUBSCRIPTION_ERROR:
                    raise FatalPusherError(f"subscription refused: {code} {message}")
                raise Reconnect(f"pusher error {code} {message}")
            elif frame.event == pusher.PING:
                await ws.send(pusher.PONG_FRAME)
            elif not frame.event.startswith("pusher"):
                self._dispatch(frame, raw, received_ns)

    async def _read(self, ws: Any, stop: asyncio.Event, activity_timeout: int, config: pusher.ConnectionConfig) -> None:
        now = time.monotonic()
        last_rx = last_health = last_confirm = now
        ping_sent_at: float | None = None
        while not stop.is_set():
            now = time.monotonic()
            if now - last_health > self.settings.health_timeout_s:
                raise Reconnect(f"no health_check for {now - last_health:.0f}s")
            if ping_sent_at is not None and now - ping_sent_at > self.settings.pong_timeout_s:
                raise Reconnect("no pusher:pong", immediate=True)
            if self.settings.confirm_silence_s and now - last_confirm > self.settings.confirm_silence_s:
                raise Reconnect(f"no price.confirm.new for {now - last_confirm:.0f}s")
            if self._config is not config:
                raise Reconnect("connection config changed", immediate=True)
            timeout = max(0.05, min(1.0, last_health + self.settings.health_timeout_s - now))
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=timeout)
            except TimeoutError:
                if ping_sent_at is None and time.monotonic() - last_rx >= activity_timeout:
                    await ws.send(pusher.PING_FRAME)
                    ping_sent_at = time.monotonic()
                continue
            received_ns = time.perf_counter_ns()
            last_rx = time.monotonic()
            try:
                frame = pusher.parse_frame(raw)
            except ProtocolError as exc:
                self._reject_raw(raw, str(exc))
                continue
            event = frame.event
            if event == HEALTH_CHECK:
                last_health = last_rx  # only health_check resets the 30 s clock
                self.health.health_check()
            elif event == pusher.PING:
                await ws.send(pusher.PONG_FRAME)
            elif event == pusher.PONG:
                ping_sent_at = None
            elif event == pusher.ERROR:
                code, message = pusher.parse_error(frame)
                action = pusher.error_action(code)
                if action == "fatal":
                    raise FatalPusherError(f"{code} {message}")
                raise Reconnect(f"pusher error {code} {message}", immediate=action == "now")
            elif not event.startswith("pusher"):  # other pusher events carry nothing for us
                if event == PRICE_CONFIRM:
                    last_confirm = last_rx
                self._dispatch(frame, raw, received_ns)

    # --- dispatch ---------------------------------------------------------------------------------

    def _dispatch(self, frame: pusher.Frame, raw: Any, received_ns: int) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        received_at = timezone.now()
        if frame.event == PRICE_ASK:
            with self._pending_lock:
                if self._pending_asks >= self.settings.max_pending_asks:
                    self.serial_pool.submit(self._record_overload, frame, text, received_at)
                    return
                self._pending_asks += 1
            self.ask_pool.submit(self._run_ask, frame, text, received_ns, received_at)
        else:
            self.serial_pool.submit(
                self.dispatcher.handle, frame, received_ns=received_ns, received_at=received_at, raw=text
            )

    def _run_ask(self, frame: pusher.Frame, text: str, received_ns: int, received_at: Any) -> None:
        try:
            self.dispatcher.handle(frame, received_ns=received_ns, received_at=received_at, raw=text)
        finally:
            with self._pending_lock:
                self._pending_asks -= 1

    def _record_overload(self, frame: pusher.Frame, text: str, received_at: Any) -> None:
        inbound.record(
            topic=frame.event,
            channel=frame.channel,
            body=text,
            status=InboundMessage.Status.IGNORED,
            received_at=received_at,
            error="overloaded: too many RFQs in flight, not quoted",
        )

    def _reject_raw(self, raw: Any, error: str) -> None:
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        self.serial_pool.submit(
            inbound.record,
            topic="(unparseable)",
            channel="",
            body=text,
            status=InboundMessage.Status.REJECTED,
            received_at=timezone.now(),
            error=error,
        )

    # --- background upkeep ----------------------------------------------------------------------------

    def _flush_health(self) -> None:
        try:
            self.health.flush()
        except Exception:
            logger.exception("could not store listener state")
            connection.close()  # a broken connection is reopened on the next query

    def _upkeep(self) -> None:
        self._flush_health()
        try:
            self.dispatcher.quotes.line_index.refresh()
            self.dispatcher.quotes.exposure.refresh()
        except Exception:
            logger.exception("could not refresh the line index or the exposure snapshot")
            connection.close()

    async def _maintenance(self, stop: asyncio.Event) -> None:
        last_token = 0.0
        while not stop.is_set():
            try:
                await self._io(self._upkeep)
                if time.monotonic() - last_token > 60:
                    last_token = time.monotonic()
                    await self._io(self.client.ensure_fresh)  # refreshes when due; never a login loop
                if self._config is not None and time.monotonic() - self._config_read_at > self.settings.config_reread_s:
                    fresh = await self._io(self.client.connection_config)
                    self._config_read_at = time.monotonic()
                    if fresh != self._config:
                        self._config = fresh  # the reader notices and reconnects
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("listener maintenance failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.maintenance_interval_s)
            except TimeoutError:
                pass


def _close_thread_connections(pool: ThreadPoolExecutor, size: int) -> None:
    """Close the database connection of every thread of `pool` (one task per thread, held at a
    barrier so each thread takes exactly one): worker threads must not leak connections."""
    barrier = threading.Barrier(size)

    def close() -> None:
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        connection.close()

    try:
        futures = [pool.submit(close) for _ in range(size)]
    except RuntimeError:  # already shut down
        return
    for future in futures:
        future.result(timeout=10)


def build(
    *,
    settings: ParlaySettings,
    client: ProphetXClient,
    price_source: Any,
    ws_url_override: str = "",
) -> Listener:
    """Wire a listener: quote engine, confirmation service and dispatcher sharing one line index."""
    from parlays.services.confirmations import ConfirmService
    from parlays.services.exposure import ExposureView
    from parlays.services.lines import LineIndex
    from parlays.services.quotes import QuoteEngine

    # Background upkeep refreshes these every few seconds; the long TTLs are only a fallback.
    index = LineIndex(ttl=60)
    exposure_view = ExposureView(settings, ttl=30)
    quotes = QuoteEngine(
        settings=settings, price_source=price_source, poster=client, line_index=index, exposure=exposure_view
    )
    quotes.recorder.start()
    confirmations = ConfirmService(
        settings=settings,
        price_source=price_source,
        poster=client,
        line_index=index,
        exposure_view=exposure_view,
        wait_for_quote=quotes.wait_recorded,
    )
    dispatcher = Dispatcher(settings=settings, quotes=quotes, confirmations=confirmations)
    return Listener(client=client, dispatcher=dispatcher, settings=settings, ws_url_override=ws_url_override)


def run_in_thread(listener: Listener) -> tuple[threading.Thread, Callable[[], None]]:
    """Run a listener on its own event loop in a daemon thread; returns (thread, stop)."""
    loop = asyncio.new_event_loop()
    stop_event: asyncio.Event | None = None
    ready = threading.Event()

    def main() -> None:
        nonlocal stop_event
        asyncio.set_event_loop(loop)
        stop_event = asyncio.Event()
        ready.set()
        try:
            loop.run_until_complete(listener.run(stop_event))
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="px-listener", daemon=True)
    thread.start()
    ready.wait()

    def stop() -> None:
        if stop_event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=10)
        listener.shutdown()

    return thread, stop
