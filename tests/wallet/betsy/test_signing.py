"""x-sign-jws: a detached JWS (HS256) over the raw body (protocols/betsy.md §3)."""

import json

import pytest

from tests.wallet.betsy.conftest import state_counts
from wallet.betsy import protocol
from wallet.betsy.protocol import BetsyError, Code, b64url
from wallet.betsy.simulator import WireRequest

DEMO_SECRET = "testdemo"
DEMO_HEADER = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"

# The provider's four public test vectors: exact body bytes -> signature segment.
VECTORS = [
    (b'{"cid":"fbet","page":1}', "3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbs"),
    (b'{"cid":"fbet","templateId":1}', "b_l10uHDIjFiEUbxDGVIEKQ_k8mgDAQdUyKBZcmJ1ew"),
    (b'{"cid":"fbet","userId":"3","page":1}', "E27-Bh7n58TVnU72qCjH-tIvRnd3Hh36nHcpiAsBr6E"),
    (b'{"cid":"fbet","bonusesIds":[20]}', "dHeSv09pyg1TZOhAbrNobciONz2-rfUuoDojV-wrOJQ"),
]


def test_the_demo_header_is_the_documented_one():
    assert protocol.DEFAULT_HEADER_SEGMENT == DEMO_HEADER


@pytest.mark.parametrize(("body", "signature"), VECTORS)
def test_public_vectors_sign(body, signature):
    assert protocol.sign(body, DEMO_SECRET) == f"{DEMO_HEADER}..{signature}"


@pytest.mark.parametrize(("body", "signature"), VECTORS)
def test_public_vectors_verify(body, signature):
    protocol.verify(f"{DEMO_HEADER}..{signature}", body, DEMO_SECRET)


@pytest.mark.parametrize(("body", "signature"), VECTORS)
def test_public_vectors_fail_with_another_secret(body, signature):
    with pytest.raises(BetsyError) as caught:
        protocol.verify(f"{DEMO_HEADER}..{signature}", body, "testdemo2")
    assert caught.value.code == Code.INVALID_SIGNATURE


@pytest.mark.parametrize("size", [0, 1, 2, 3, 690, 4096])
def test_signing_matches_the_textbook_hmac_and_base64url(size):
    """The keyed-once HMAC pads and the inlined base64url give the standard library's result,
    including bodies whose base64 has '+', '/' and padding."""
    import base64
    import hashlib
    import hmac
    import random

    body = random.Random(size).randbytes(size)
    segment = base64.urlsafe_b64encode(body).rstrip(b"=")
    assert b64url(body) == segment.decode()
    for _ in range(2):  # the second copy of the keyed object must start from the key alone
        expected = hmac.new(b"k3y", DEMO_HEADER.encode() + b"." + segment, hashlib.sha256).digest()
        assert (
            protocol.sign(body, "k3y") == f"{DEMO_HEADER}..{base64.urlsafe_b64encode(expected).rstrip(b'=').decode()}"
        )


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
def test_the_hand_keyed_hmac_is_the_standard_one_for_any_key_length(key_size):
    """RFC 2104 by hand (a key longer than SHA-256's 64-byte block is hashed first, a shorter one
    padded with zeros), the header segment hashed once per secret: the same signature as
    hmac.digest over the whole signing input, and the keyed states copied, never consumed."""
    import base64
    import hashlib
    import hmac
    import random
    import string

    rng = random.Random(key_size)
    key = "".join(rng.choice(string.printable) for _ in range(key_size))
    for header in (DEMO_HEADER, b64url(b'{"alg":"HS256"}')):
        for size in (0, 300):
            message = rng.randbytes(size)
            signing_input = header.encode() + b"." + base64.urlsafe_b64encode(message).rstrip(b"=")
            expected = hmac.digest(key.encode(), signing_input, hashlib.sha256)
            for _ in range(2):
                assert protocol._signature(header, message, key) == b64url(expected)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbs", None),  # the good one
        ("3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbt", "invalid signature"),
        ("3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXb", "invalid signature"),
        ("", "invalid signature"),
        ("3siG0YndUOiR7HRecGQMe87nuL3ty+HZhVjhkFPRXbs", "signature is not base64url"),
        ("3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbs=", "signature is not base64url"),
        ("3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbé", "signature is not base64url"),
        ("ü" * 43, "signature is not base64url"),
        ("3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbs\x00", "signature is not base64url"),
    ],
)
def test_signature_refusals_name_what_is_wrong(given, message):
    """The signature is compared before its alphabet is looked at (one check fewer on every
    good callback): a malformed one is still refused as malformed, a well-formed wrong one as
    invalid, whatever the order."""
    body, _ = VECTORS[0]
    if message is None:
        protocol.verify(f"{DEMO_HEADER}..{given}", body, DEMO_SECRET)
        return
    with pytest.raises(BetsyError) as caught:
        protocol.verify(f"{DEMO_HEADER}..{given}", body, DEMO_SECRET)
    assert caught.value.code == Code.INVALID_SIGNATURE
    assert caught.value.message == message


def test_signature_covers_the_exact_bytes():
    body, signature = VECTORS[0]
    reformatted = b'{"cid": "fbet", "page": 1}'  # same JSON, other bytes
    assert json.loads(reformatted) == json.loads(body)
    with pytest.raises(BetsyError):
        protocol.verify(f"{DEMO_HEADER}..{signature}", reformatted, DEMO_SECRET)


def test_header_segment_is_used_verbatim():
    """Another key order in the JOSE header is another signing input, and still valid."""
    other = b64url(b'{"alg":"HS256","typ":"JWT"}')
    body = b'{"a":1}'
    value = protocol.sign(body, DEMO_SECRET, header_segment=other)
    assert value.startswith(other + "..")
    protocol.verify(value, body, DEMO_SECRET)


def _header(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("abc", "not three segments"),
        (f"{DEMO_HEADER}.{b64url(b'{}')}.3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbs", "attached payload"),
        (f"{DEMO_HEADER}...x", "four segments"),
        ("!!!..3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbs", "header not base64url"),
        (f"{b64url(b'not json')}..x", "header not JSON"),
        (f"{b64url(b'[1]')}..x", "header not an object"),
        (f"{DEMO_HEADER}..3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXb=", "padding in the signature"),
        (f"{DEMO_HEADER}..3siG0YndUOiR7HRecGQMe87nuL3ty_HZhVjhkFPRXbt", "last character changed"),
        (f"{DEMO_HEADER}..", "empty signature"),
        (f"{DEMO_HEADER}..é", "non-ASCII signature"),
        ("a" * 5000, "too long"),
    ],
)
def test_malformed_headers_are_refused(value, why):
    with pytest.raises(BetsyError) as caught:
        protocol.verify(value, VECTORS[0][0], DEMO_SECRET)
    assert caught.value.code == Code.INVALID_SIGNATURE, why


@pytest.mark.parametrize(
    "jose",
    [
        {"typ": "JWT", "alg": "none"},
        {"typ": "JWT", "alg": "HS512"},
        {"typ": "JWT", "alg": "RS256"},
        {"typ": "JWT", "alg": "hs256"},
        {"typ": "JWT"},
        {"typ": "JWT", "alg": "HS256", "crit": ["exp"]},
        {"typ": "JWT", "alg": "HS256", "b64": False},
    ],
)
def test_only_plain_hs256_is_accepted_even_when_correctly_signed(jose):
    body = b'{"a":1}'
    value = protocol.sign(body, DEMO_SECRET, header_segment=_header(jose))  # a valid MAC under that header
    with pytest.raises(BetsyError) as caught:
        protocol.verify(value, body, DEMO_SECRET)
    assert caught.value.code == Code.INVALID_SIGNATURE


def test_no_secret_configured_refuses_everything():
    body, signature = VECTORS[0]
    with pytest.raises(BetsyError):
        protocol.verify(f"{DEMO_HEADER}..{signature}", body, "")


# --- Over HTTP: checked before anything else, nothing stored -------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_unsigned_or_badly_signed_place_bet_changes_nothing(betsy, alice, secret):
    before = state_counts()
    body = betsy.bet_body(type_=1, transaction_id="tx-1", user_id="alice", currency="USD", amount=5, token=alice.token)
    reply = betsy.request("POST", "/payment/bet", body, sign=secret is not None, secret=secret)
    assert reply.status == 400 and reply.data["code"] == 1
    assert state_counts() == before
    assert alice.balance == 20


@pytest.mark.django_db
def test_signature_is_checked_before_parsing(betsy):
    """Even garbage gets code 1 (not 5) when unsigned: nothing is read before the signature."""
    reply = betsy.request("POST", "/payment/bet", b"not json", secret="wrong")
    assert reply.data["code"] == 1
    reply = betsy.request("POST", "/payment/bet", b"not json")
    assert reply.data["code"] == 5


@pytest.mark.django_db
def test_a_settle_replayed_with_a_tampered_amount_is_refused(betsy, alice):
    assert betsy.place("tx-1", "alice", "USD", 5, alice.token).status == 200
    request = betsy.bet_body(type_=2, transaction_id="tx-1", user_id="alice", currency="USD", amount=10, token=None)
    request["resultType"] = "won"
    signed = protocol.dumps(request)
    header = protocol.sign(signed, betsy.secret)
    tampered = signed.replace(b'"amount":10', b'"amount":1000')
    reply = betsy.send(WireRequest("PUT", "/api/betsy/payment/bet", tampered, {protocol.HEADER_NAME: header}))
    assert reply.data["code"] == 1
    assert alice.balance == 15


@pytest.mark.django_db
def test_responses_are_signed_the_same_way(betsy, alice):
    reply = betsy.balance("alice", "USD", alice.token)
    protocol.verify(reply.headers[protocol.HEADER_NAME], reply.body, betsy.secret)
    error = betsy.balance("alice", "USD", "x" * 20)
    protocol.verify(error.headers[protocol.HEADER_NAME], error.body, betsy.secret)


@pytest.mark.django_db
def test_oversized_body_is_refused_without_reading_it(betsy, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    reply = betsy.request("POST", "/payment/bet", b"{" + b" " * 2048 + b"}")
    assert (reply.status, reply.data["code"]) == (400, 5)
