"""Pusher protocol framing and private-channel auth."""

import pytest

from parlays.protocol import pusher
from parlays.protocol.errors import ProtocolError


def test_channel_auth_matches_pushers_published_example():
    # https://pusher.com/docs/channels/library_auth_reference/auth-signatures
    auth = pusher.channel_signature("278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234", "private-foobar")
    assert auth == "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    assert pusher.verify_channel_auth(
        "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1234", "private-foobar", auth
    )
    assert not pusher.verify_channel_auth(
        "278d425bdf160c739803", "7ad3773142a6692b25b8", "1234.1235", "private-foobar", auth
    )


def test_connection_established_data_is_a_json_string():
    frame = pusher.parse_frame(
        '{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"123.456\\",\\"activity_timeout\\":120}"}'
    )
    assert pusher.parse_connection_established(frame) == ("123.456", 120)


@pytest.mark.parametrize(
    "raw",
    ["not json", "[]", '{"data": 1}', '{"event": ""}', '{"event": "x", "channel": 5}', b"\xff\xfe"],
)
def test_bad_frames(raw):
    with pytest.raises(ProtocolError):
        pusher.parse_frame(raw)


def test_bad_socket_id():
    frame = pusher.parse_frame('{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"abc\\"}"}')
    with pytest.raises(ProtocolError):
        pusher.parse_connection_established(frame)


def test_topic_envelope_decodes_with_decimals():
    frame = pusher.parse_frame(
        '{"event":"order.matched","channel":"c","data":"{\\"payload\\":{\\"matched_stake\\":3.49},\\"timestamp\\":1}"}'
    )
    assert str(frame.decoded()["payload"]["matched_stake"]) == "3.49"


def test_register_answer():
    body = {
        "data": {
            "success": True,
            "status": "CONNECTED",
            "authorized_channel": [
                {
                    "channel_name": "private-broadcast-service=4-device_type=5",
                    "auth": "k:1",
                    "binding_events": ["price.ask.new", "order.matched"],
                },
                {
                    "channel_name": "private-service=4-device_type=5-user=abc",
                    "auth": "k:2",
                    "binding_events": ["price.confirm.new"],
                },
            ],
        }
    }
    broadcast, private = pusher.parse_register_response(body)
    assert broadcast.is_broadcast and not private.is_broadcast
    assert private.events == ("price.confirm.new",)


def test_register_answer_with_top_level_auth():
    body = {"auth": "k:shared", "data": {"authorized_channel": [{"channel_name": "private-x", "binding_events": []}]}}
    (channel,) = pusher.parse_register_response(body)
    assert channel.auth == "k:shared"


def test_register_answer_without_channels_is_refused():
    with pytest.raises(ProtocolError):
        pusher.parse_register_response({"data": {"success": False}})


def test_connection_url_and_override():
    config = pusher.parse_connection_config({"key": "abc", "cluster": "mt1", "app_id": 9})
    assert pusher.ws_url(config) == "wss://ws-mt1.pusher.com:443/app/abc?protocol=7&client=touchline&version=1.0"
    assert pusher.ws_url(config, override="ws://127.0.0.1:9/").startswith("ws://127.0.0.1:9/app/abc?protocol=7")


def test_error_codes():
    assert pusher.error_action(4001) == "fatal"
    assert pusher.error_action(4100) == "backoff"
    assert pusher.error_action(4201) == "now"
    assert pusher.error_action(None) == "backoff"
