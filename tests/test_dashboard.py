"""The live dashboard: staff-only WebSocket, snapshot on connect, pushed updates."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from config import dashboard
from config.consumers import DashboardConsumer
from tests.factories import fund, make_player

pytestmark = pytest.mark.django_db(transaction=True)


def _section(snapshot: dict, name: str) -> dict:
    return {m["key"]: m for s in snapshot["sections"] if s["section"] == name for m in s["metrics"]}


async def _session(user, *, broadcast: bool):
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    if not connected:
        return connected, code, []
    received = [await communicator.receive_json_from(timeout=5)]
    if broadcast:
        from channels.db import database_sync_to_async

        await database_sync_to_async(dashboard.broadcast)()
        received.append(await communicator.receive_json_from(timeout=5))
    await communicator.disconnect()
    return connected, code, received


def test_staff_receive_a_snapshot_then_live_updates():
    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    alice = make_player("alice")
    fund(alice, "10")
    connected, _, received = async_to_sync(_session)(staff, broadcast=True)
    assert connected and len(received) == 2
    wallet = _section(received[1], "wallet")
    assert wallet["postings_per_min"]["value"] == 1
    assert wallet["ledger_check"]["value"] == "never run"


def test_non_staff_are_refused():
    connected, code, _ = async_to_sync(_session)(AnonymousUser(), broadcast=False)
    assert not connected and code == 4403


def test_dashboard_page_renders_for_staff(client):
    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    assert client.get("/admin/dashboard/").status_code == 302  # to the login page
    client.force_login(staff)
    page = client.get("/admin/dashboard/")
    assert page.status_code == 200 and b"dash-initial" in page.content


def test_a_broken_provider_does_not_blank_the_dashboard():
    def broken():
        raise RuntimeError("feed database unreachable")

    dashboard.register("broken", broken)
    try:
        snap = dashboard.snapshot()
    finally:
        dashboard._providers.pop("broken")
    assert _section(snap, "broken")["error"]["status"] == "bad"
    assert _section(snap, "wallet")


def test_check_ledger_runs_are_recorded_for_the_dashboard():
    from wallet.tasks import check_ledger_task

    assert check_ledger_task() is True
    assert _section(dashboard.snapshot(), "wallet")["ledger_check"]["value"].startswith("OK")


def test_every_app_reports_on_the_dashboard():
    sections = {s["section"] for s in dashboard.snapshot()["sections"]}
    assert {"wallet", "fast track export", "odds feed", "parlay book"} <= sections
    for section in dashboard.snapshot()["sections"]:
        assert all(m["status"] != "bad" or m["key"] != "error" for m in section["metrics"]), section
    assert _section(dashboard.snapshot(), "fast track export")["outbox_lag"]["unit"] == "s"


def test_a_foreign_origin_cannot_open_the_dashboard_socket(client):
    """Cross-site WebSocket hijacking: a staff session cookie opens the socket from our own
    origin only."""
    from config.asgi import application

    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def handshake(origin: bytes):
        headers = [(b"origin", origin), (b"host", b"localhost"), (b"cookie", cookie)]
        communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert async_to_sync(handshake)(b"http://localhost") is True
    assert async_to_sync(handshake)(b"https://evil.example") is False


async def _session_with(user, session: dict) -> bool:
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    communicator.scope["session"] = session
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


def test_an_approver_needs_a_totp_verified_session_for_the_socket(settings):
    """With ADMIN_TOTP_REQUIRED, the admin refuses an approver's password-only session; so does
    the dashboard's socket, which would otherwise show live money figures to it."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.ADMIN_TOTP_REQUIRED = True
    approver = get_user_model().objects.create_user("boss", password="x", is_staff=True, is_superuser=True)
    plain = get_user_model().objects.create_user("agent", password="x", is_staff=True)
    other = get_user_model().objects.create_user("other", password="x", is_staff=True, is_superuser=True)
    mine = TOTPDevice.objects.create(user=approver, name="phone", confirmed=True)
    theirs = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    unconfirmed = TOTPDevice.objects.create(user=approver, name="new", confirmed=False)

    assert async_to_sync(_session_with)(plain, {}) is True  # no TOTP asked of support staff
    assert async_to_sync(_session_with)(approver, {}) is False
    assert async_to_sync(_session_with)(approver, {DEVICE_ID_SESSION_KEY: theirs.persistent_id}) is False
    assert async_to_sync(_session_with)(approver, {DEVICE_ID_SESSION_KEY: unconfirmed.persistent_id}) is False
    assert async_to_sync(_session_with)(approver, {DEVICE_ID_SESSION_KEY: mine.persistent_id}) is True
    settings.ADMIN_TOTP_REQUIRED = False
    assert async_to_sync(_session_with)(approver, {}) is True


def test_an_inactive_staff_member_cannot_open_the_socket():
    gone = get_user_model().objects.create_user("gone", password="x", is_staff=True, is_active=False)
    assert async_to_sync(_session_with)(gone, {}) is False
