"""Rendezvous sharding: a partition, balanced, stable, and adding a shard moves about 1/N."""

from __future__ import annotations

import pytest

from enphase_local.fleet.shard import Shard, shard_of, weight

HOSTS = [f"envoy-{n}.site-{n % 37}.example" for n in range(3000)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_the_shards_partition_the_list_evenly(count: int) -> None:
    owners = {host: [k for k in range(count) if Shard(k, count).owns(host)] for host in HOSTS}
    assert all(len(found) == 1 for found in owners.values())  # each host in exactly one shard
    sizes = [sum(1 for found in owners.values() if found == [k]) for k in range(count)]
    assert sum(sizes) == len(HOSTS)
    expected = len(HOSTS) / count
    assert all(abs(size - expected) < 0.15 * expected + 10 for size in sizes), sizes


@pytest.mark.parametrize("count", [1, 2, 4, 9])
def test_adding_a_shard_moves_about_one_in_n_plus_one_and_only_to_it(count: int) -> None:
    before = {host: shard_of(host, count) for host in HOSTS}
    after = {host: shard_of(host, count + 1) for host in HOSTS}
    moved = [host for host in HOSTS if before[host] != after[host]]
    assert all(after[host] == count for host in moved)  # nothing moves between old shards
    share = len(moved) / len(HOSTS)
    assert share == pytest.approx(1 / (count + 1), abs=0.03)


def test_the_hash_is_stable_and_host_spelling_does_not_matter() -> None:
    # Pinned values: another Python, machine or run gives the same shards (unlike hash()).
    assert weight("envoy.local", 0) == 14097960983791653671
    hosts = ("a", "b", "c", "d", "e", "envoy.local")
    assert [shard_of(h, 4) for h in hosts] == [0, 0, 1, 2, 0, 2]
    assert shard_of(" Envoy.LOCAL", 4) == 2


@pytest.mark.parametrize("text", ["3/3", "-1/3", "1", "a/b", "1/0", "", "1/2/3"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"K/N|0 <= K < N"):
        Shard.parse(text)


def test_shard_text() -> None:
    assert str(Shard.parse(" 2/5 ")) == "2/5"
