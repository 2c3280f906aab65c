"""What waits in a broker queue, read without taking anything: so a page can say where a job
is in line ("2 ahead of it: a print file being made and one render").

Redis (production and ``make run``) and the in-process StubBroker (tests) can be read; other
brokers (RabbitMQ) and a broker that is away give None, and the caller says less. Only the
actor and arguments of each message are read; callers show counts, never another studio's
arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.stub import StubBroker
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# A queue longer than this is summed up as "more than" it: reading it all on every poll of a
# job page would cost more than the answer is worth.
PEEK_LIMIT = 500


@dataclass(frozen=True)
class Waiting:
    actor: str
    args: tuple
    taken: bool  # a worker has it: being processed, or next in that worker's hands


def queue_peek(queue_name: str) -> list[Waiting] | None:
    """The messages of ``queue_name`` in the order workers will meet them: the ones workers
    hold first, then those waiting, oldest first. None when the broker cannot be read."""
    broker = dramatiq.get_broker()
    try:
        if isinstance(broker, StubBroker):
            return _stub_peek(broker, queue_name)
        from dramatiq.brokers.redis import RedisBroker

        if isinstance(broker, RedisBroker):
            return _redis_peek(broker, queue_name)
    except (RedisError, OSError) as exc:
        logger.warning("could not read queue %s: %s", queue_name, exc)
    return None


def _stub_peek(broker: StubBroker, queue_name: str) -> list[Waiting]:
    queue = broker.queues.get(queue_name)
    if queue is None:
        return []
    with queue.mutex:
        raw = list(queue.queue)[:PEEK_LIMIT]
    return [_waiting(data, taken=False) for data in raw]


def _redis_peek(broker: object, queue_name: str) -> list[Waiting]:
    client = broker.client  # type: ignore[attr-defined]
    key = f"{broker.namespace}:{queue_name}"  # type: ignore[attr-defined]
    # Every message not yet acknowledged is in the hash; the list holds those still waiting.
    pending = [mid.decode() for mid in client.lrange(key, 0, PEEK_LIMIT - 1)]
    messages: dict[str, bytes] = {}
    for mid, data in client.hscan_iter(f"{key}.msgs", count=PEEK_LIMIT):
        messages[mid.decode()] = data
        if len(messages) >= 4 * PEEK_LIMIT:  # a huge backlog: enough to say "more than"
            break
    waiting = set(pending)
    taken = [_waiting(data, taken=True) for mid, data in messages.items() if mid not in waiting]
    queued = [_waiting(messages[mid], taken=False) for mid in pending if mid in messages]
    return (taken + queued)[:PEEK_LIMIT]


def _waiting(data: bytes, *, taken: bool) -> Waiting:
    message = dramatiq.Message.decode(data)
    return Waiting(actor=message.actor_name, args=tuple(message.args), taken=taken)
