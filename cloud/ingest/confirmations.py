"""Confirmations: what the cloud tells each device it holds, once a batch is committed (contract.confirm).

One `Confirm` per (device, install) per batch, listing the reading seqs as inclusive
ranges and the event and usage message ids; split into several when a batch holds more
than one message may carry. A seq or id may be confirmed more than once (a re-send, a
redelivery): the device just forgets it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import TypeVar

from cloud.ingest.peek import Held
from contract.confirm import MAX_IDS, MAX_RANGES, Confirm

T = TypeVar("T")


@dataclass
class _Device:
    seqs: set[int] = field(default_factory=set)
    events: dict[str, None] = field(default_factory=dict)  # ordered, without repeats
    usage: dict[str, None] = field(default_factory=dict)


def confirmations(held: Iterable[Held], now: float) -> list[Confirm]:
    """The confirmations of everything `held`, per (tenant, device, install)."""
    devices: dict[tuple[str, str, str], _Device] = {}
    for item in held:
        entry = devices.setdefault((item.tenant, item.device_id, item.install), _Device())
        entry.seqs.update(item.readings)
        entry.events.update(dict.fromkeys(item.events))
        entry.usage.update(dict.fromkeys(item.usage))
    confirms: list[Confirm] = []
    for (tenant, device_id, install), entry in devices.items():
        parts = zip_longest(_chunks(seq_ranges(entry.seqs), MAX_RANGES), _chunks(list(entry.events), MAX_IDS),
                            _chunks(list(entry.usage), MAX_IDS), fillvalue=())
        confirms += [Confirm(tenant, device_id, now, install, tuple(ranges), tuple(events), tuple(usage))
                     for ranges, events, usage in parts]
    return confirms


def seq_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged inclusive ranges: {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
