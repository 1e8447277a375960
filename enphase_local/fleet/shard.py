"""Split a list of gateways between N pollers that never talk to each other.

``poll --shard K/N`` keeps the gateways that rendezvous (highest random weight) hashing gives
to shard K (counted from 0, like a Kubernetes StatefulSet's ordinals): each gateway's host is
weighed against every shard number with a keyed BLAKE2b hash, and the heaviest shard takes it.
Every process computes the same answer from the same list, whatever the order of the list or
the machine; a host belongs to exactly one shard; and going from N to N + 1 shards moves only
the hosts the new shard now wins, about 1/(N + 1) of them, none between the old shards.
"""

from __future__ import annotations

import hashlib

import attrs


@attrs.frozen
class Shard:
    """Shard ``index`` of ``count`` (``index`` from 0 to ``count - 1``)."""

    #: Which shard, from 0.
    index: int
    #: How many shards there are.
    count: int

    def __attrs_post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= K < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N``, e.g. ``0/3``; ``ValueError`` otherwise."""
        index, sep, count = text.strip().partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"expected K/N (e.g. 0/3), got {text!r}")
        return cls(int(index), int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, host: str) -> bool:
        """Whether this shard polls ``host``."""
        return shard_of(host, self.count) == self.index


def host_key(host: str) -> str:
    """The form of a host that is hashed: trimmed and lower-case (``Envoy.local`` and
    ``envoy.local `` are one gateway)."""
    return host.strip().lower()


def weight(host: str, shard: int) -> int:
    """The rendezvous weight of ``host`` for shard number ``shard`` (64 bits)."""
    digest = hashlib.blake2b(
        host_key(host).encode(), digest_size=8, key=shard.to_bytes(8, "big")
    ).digest()
    return int.from_bytes(digest, "big")


def shard_of(host: str, count: int) -> int:
    """The shard (from 0) of ``count`` that polls ``host``."""
    return max(range(count), key=lambda shard: (weight(host, shard), -shard))
