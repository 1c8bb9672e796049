"""The outbox's disk budget and its overflow policy: thin the oldest telemetry, never events or usage.

What counts: the bytes of the SQLite pages in use (`page_count - freelist_count`,
times the page size): the real size of what is queued, events and usage included.
It is read when the writes since the last reading may have used up the headroom
(each write is assumed to take twice its payload plus a row's overhead, so the
check comes early), not after every write, which would halve the write rate. As
a write may take a whole new page whatever its size, the check comes at every write
once less than `RESERVE_PAGES` pages of room are left; the WAL file comes on top and is capped by
`journal_size_limit` (see `edge.queue`). Freed pages are reused, not returned to the
file system, so the file stays near its high-water mark, which is the budget.

Overflow policy, applied while the budget is exceeded, one block at a time. Readings
are grouped in fixed blocks of `THIN_BLOCK` consecutive seqs:

1. halve the oldest complete block still at full resolution: keep every other
   reading (the 1st, 3rd, 5th, … still queued), drop the rest;
2. once every complete block is halved, drop the oldest block entirely.

Why halve before dropping: after a long outage the trend over the whole outage is
worth more to maintenance than full resolution at its start, so resolution goes
first and history last. Events and usage counters are never dropped: when they
alone exceed the budget, the outbox grows past it (and says so in the log).

Two tiers, in this order: first the *unsent* readings (above every seq handed to
the link in this run and every seq the broker ever acknowledged) of complete
blocks, then, only when no such reading is left to shed, the *sent-unconfirmed*
ones (the broker acknowledged them, the cloud has not confirmed them), and only
after those the newest, incomplete block (the last second's readings, not handed
yet: with a cloud that never confirms they would otherwise be the first to go at
every check, while old sent ones stayed). A sent reading may already be
stored in the cloud, or may have been lost by the broker: dropping it risks losing
a reading the broker acknowledged, so it is the last resort, but without it a cloud
that never confirms (an old one, or one down for days) would let the outbox grow
without bound. What a tier-2 drop removes is counted in `dropped` and also in
`dropped_unconfirmed` (those may still reach the cloud: `dropped` is then an upper
bound of what the cloud misses). Readings in flight for the first time (handed, no
PUBACK yet, `sent_at` NULL) are never touched: they may reach the cloud anyway and
would then be counted as dropped wrongly. Each tier keeps its own halving cursor
(`thinned_through`, `thinned_sent_through`), and a sent block already at half
resolution or less (thinned while it was unsent) is not halved again.

A thinned block is rewritten (deleted and its kept half re-inserted) rather than
only having rows deleted: rows keyed by an increasing seq sit in leaf pages that
only that key range can reuse, so deleting every other row would free no page at
all, while a rewrite packs the kept half into half the pages.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

THIN_BLOCK = 100
MIN_BUDGET_BYTES = 64 * 1024  # below this, SQLite's own pages and one block leave no room for a budget
_ROW_OVERHEAD = 64  # bytes a row costs beyond its payload (key, header, index entry), rounded up
RESERVE_PAGES = 1  # below this much room every write is checked: a write may allocate a page


@dataclass(frozen=True)
class Shed:
    """Readings one `enforce` dropped: `total`, of which `sent` were sent-unconfirmed (tier 2)."""

    total: int = 0
    sent: int = 0


_UNSENT = "seq > :floor"  # tier 1: nothing above the floor was handed in this run or ever acknowledged
_SENT = "sent_at IS NOT NULL"  # tier 2: acknowledged by the broker, not confirmed by the cloud


class DiskBudget:
    """Keeps an open outbox under `max_bytes`; call `enforce` inside the transaction that wrote."""

    def __init__(self, max_bytes: int, block: int = THIN_BLOCK) -> None:
        self.max_bytes = max_bytes
        self.block = block
        self.exceeded = False  # still over budget after the last enforce (nothing more may be dropped)
        self._page_size = 0
        self._headroom = 0  # bytes that may be written before the next real check

    def used_bytes(self, conn: sqlite3.Connection) -> int:
        if not self._page_size:
            self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self._page_size

    def enforce(self, conn: sqlite3.Connection, *, handed_through: int, newest_seq: int, wrote: int) -> Shed:
        """After a write of `wrote` payload bytes: shed telemetry until under budget."""
        self._headroom -= 2 * wrote + _ROW_OVERHEAD
        if self._headroom > 0:
            return Shed()
        total = sent = 0
        # Above this floor nothing was handed in this run nor ever acknowledged: unsent.
        floor = max(handed_through, _meta_int(conn, "sent_through"))
        while (used := self.used_bytes(conn)) > self.max_bytes:
            shed = self._shed_unsent(conn, floor, newest_seq)
            if shed == 0:
                shed = self._shed_sent(conn, newest_seq)
                sent += shed
            if shed == 0:
                shed = self._drop_oldest_block(conn, _UNSENT, floor)  # the newest block: last resort
            if shed == 0:
                break  # only events, usage and readings in flight left: they stay
            total += shed
        self.exceeded = used > self.max_bytes
        self._headroom = self.max_bytes - used - RESERVE_PAGES * self._page_size
        return Shed(total, sent)

    def _shed_unsent(self, conn: sqlite3.Connection, floor: int, newest_seq: int) -> int:
        thinned_through = _meta_int(conn, "thinned_through")
        first_full = _min_seq(conn, _UNSENT, max(floor, thinned_through), floor)
        if first_full is not None:
            start, end = self._block_of(first_full)
            if end < newest_seq:  # a complete block (a newer one began): the newest is left alone
                conn.execute("UPDATE meta SET value = ? WHERE key = 'thinned_through'", (end,))
                thinned = _halve(conn, _UNSENT, max(start, floor + 1), end, floor)
                if thinned:
                    return thinned
        return self._drop_oldest_block(conn, _UNSENT, floor, complete_before=newest_seq)

    def _shed_sent(self, conn: sqlite3.Connection, newest_seq: int) -> int:
        cursor = _meta_int(conn, "thinned_sent_through")
        while (first := _min_seq(conn, _SENT, cursor, 0)) is not None:
            start, end = self._block_of(first)
            if end >= newest_seq:
                break
            conn.execute("UPDATE meta SET value = ? WHERE key = 'thinned_sent_through'", (end,))
            cursor = end
            # A block thinned while it was unsent is at half resolution already: not halved twice.
            if _count(conn, _SENT, start, end) > self.block // 2 and (thinned := _halve(conn, _SENT, start, end, 0)):
                return thinned
        return self._drop_oldest_block(conn, _SENT, 0)

    def _drop_oldest_block(self, conn: sqlite3.Connection, tier: str, floor: int,
                           complete_before: int | None = None) -> int:
        """Drop the oldest block's readings of `tier`; with `complete_before`, only a block ending below that seq."""
        oldest = _min_seq(conn, tier, floor, floor)
        if oldest is None:
            return 0
        start, end = self._block_of(oldest)
        if complete_before is not None and end >= complete_before:
            return 0
        cur = conn.execute(f"DELETE FROM readings WHERE seq BETWEEN :first AND :last AND {tier}",
                           {"first": max(start, floor + 1), "last": end, "floor": floor})
        return int(cur.rowcount)

    def _block_of(self, seq: int) -> tuple[int, int]:
        start = (seq - 1) // self.block * self.block + 1
        return start, start + self.block - 1


def _halve(conn: sqlite3.Connection, tier: str, first: int, last: int, floor: int) -> int:
    where = {"first": first, "last": last, "floor": floor}
    rows = conn.execute(f"SELECT seq, ts, vals, lane, sent_at FROM readings WHERE seq BETWEEN :first AND :last "
                        f"AND {tier} ORDER BY seq", where).fetchall()
    keep = rows[::2]
    if len(keep) == len(rows):
        return 0
    conn.execute(f"DELETE FROM readings WHERE seq BETWEEN :first AND :last AND {tier}", where)
    conn.executemany("INSERT INTO readings (seq, ts, vals, lane, sent_at) VALUES (?, ?, ?, ?, ?)", keep)
    return len(rows) - len(keep)


def _count(conn: sqlite3.Connection, tier: str, first: int, last: int) -> int:
    (count,) = conn.execute(f"SELECT count(*) FROM readings WHERE seq BETWEEN :first AND :last AND {tier}",
                            {"first": first, "last": last, "floor": 0}).fetchone()
    return int(count)


def _min_seq(conn: sqlite3.Connection, tier: str, above: int, floor: int) -> int | None:
    row = conn.execute(f"SELECT min(seq) FROM readings WHERE seq > :above AND {tier}",
                       {"above": above, "floor": floor}).fetchone()
    return None if row[0] is None else int(row[0])


def _meta_int(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return 0 if row is None else int(row[0])
