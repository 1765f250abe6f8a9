"""The worker reads a delivery's count from its ack subject, the same as nats-py's metadata."""

from __future__ import annotations

from typing import Any

from nats.aio.msg import Msg

from naq.worker._delivery import delivery_count


async def test_the_count_matches_nats_py_on_first_delivery_and_redeliveries(js: Any) -> None:
    await js.add_stream(name="counted", subjects=["counted.>"])
    await js.publish("counted.one", b"x")
    subscription = await js.pull_subscribe("counted.>", durable="counter")
    for expected in (1, 2, 3):
        [message] = await subscription.fetch(1, timeout=5)
        assert len(message.reply.split(".")) == 9, "the common form, split by the worker itself"
        assert delivery_count(message) == message.metadata.num_delivered == expected
        await message.nak()


def test_other_ack_subject_forms_go_through_nats_py() -> None:
    # The form with a domain and an account hash (12 tokens): parsed by nats-py, not split here.
    reply = "$JS.ACK.hub.ACCHASH.counted.counter.4.10.12.1700000000000000000.0.token"
    message = Msg(_client=None, subject="counted.one", reply=reply, data=b"x")  # type: ignore[arg-type]
    assert delivery_count(message) == message.metadata.num_delivered == 4
