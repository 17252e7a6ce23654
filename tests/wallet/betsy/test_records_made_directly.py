"""`answers.answer` and `locked.read_locked` set their frozen dataclasses' slots directly
(issue #18): the objects must be the ones the dataclasses' own __init__ makes, every field set."""

from __future__ import annotations

from dataclasses import fields

import pytest

from wallet.betsy import answers, locked
from wallet.betsy.answers import Answer
from wallet.services.idempotency import Reply


def test_the_answer_s_slots_are_its_fields_in_order() -> None:
    # A field added to Answer must be set by answers.answer too: this fails until it is.
    assert [f.name for f in fields(Answer)] == ["status", "body", "replayed"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=200, body='{"transactionId":"1"}', outcome="applied"),
        Reply(status=400, body='{"code":5,"message":"ü"}', outcome="declined", replayed=True, transaction_id=7),
    ],
)
def test_answer_is_the_dataclass_s_own(reply: Reply) -> None:
    made = answers.answer(reply)
    assert type(made) is Answer
    assert made == Answer(reply.status, reply.body.encode(), reply.replayed)
    assert repr(made) == repr(Answer(reply.status, reply.body.encode(), reply.replayed))
    with pytest.raises(AttributeError):  # still frozen
        made.status = 500  # type: ignore[misc]


def test_the_locked_read_s_slots_are_its_fields_in_order() -> None:
    # A field added to Locked must be set by read_locked too: this fails until it is.
    # (test_locked_read checks what it makes for each step.)
    assert [f.name for f in fields(locked.Locked)] == ["bet", "epoch", "wallet", "prefetched", "step_id"]
