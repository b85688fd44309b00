"""Follow one account's fills from the events bus, durably: the JetStream consumer is named after
the account, so a restart continues after the last acknowledged fill.

    python follow_fills.py nats://127.0.0.1:4222 7 [limit]
"""

import asyncio
import json
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def follow(url: str, account_id: int, limit: int | None) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    subject = f"oms.events.{account_id}.position.deal_created"  # one fill = one deal
    sub = await js.pull_subscribe(subject, durable=f"fills-{account_id}", stream="OMS_EVENTS",
                                  config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT,
                                                        deliver_policy=DeliverPolicy.ALL))
    seen = 0
    while limit is None or seen < limit:
        try:
            msgs = await sub.fetch(1 if limit else 100, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for msg in msgs:
            event = json.loads(msg.data)  # the websocket's event message; money as strings
            deal = event["payload"]
            print(event["seq"], deal["symbol"], deal["side"], deal["qty"], deal["price"],  # noqa: T201
                  flush=True)
            await msg.ack()  # acknowledged: a restart continues after it
            seen += 1
    await nc.close()


if __name__ == "__main__":
    asyncio.run(follow(sys.argv[1], int(sys.argv[2]),
                       int(sys.argv[3]) if len(sys.argv) > 3 else None))
