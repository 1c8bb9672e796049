"""The outbox's disk budget and its overflow policy: thin the oldest telemetry, never events or usage.

What counts: the bytes of the SQLite pages in use (`page_count - freelist_count`,
times the page size): the real size of what is queued, events and usage included.
It is read when the writes since the last reading may have used up the headroom
(each write is assumed to take twice its payload plus a row's overhead, so the
check comes early, never late), not after every write, which would halve the
write rate; the WAL file comes on top and is capped by
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
alone exceed the budget, the outbox grows past it (and says so in the log). Readings
already handed to the link (in flight, `floor_seq`) are never touched, because they
may reach the cloud anyway and would then be counted as dropped wrongly.

A thinned block is rewritten (deleted and its kept half re-inserted) rather than
only having rows deleted: rows keyed by an increasing seq sit in leaf pages that
only that key range can reuse, so deleting every other row would free no page at
all, while a rewrite packs the kept half into half the pages.
"""

from __future__ import annotations

import sqlite3

THIN_BLOCK = 100
MIN_BUDGET_BYTES = 64 * 1024  # below this, SQLite's own pages and one block leave no room for a budget
_ROW_OVERHEAD = 64  # bytes a row costs beyond its payload (key, header, index entry), rounded up


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

    def enforce(self, conn: sqlite3.Connection, *, floor_seq: int, newest_seq: int, wrote: int) -> int:
        """After a write of `wrote` payload bytes: shed telemetry until under budget; returns readings dropped."""
        self._headroom -= 2 * wrote + _ROW_OVERHEAD
        if self._headroom > 0:
            return 0
        dropped = 0
        while (used := self.used_bytes(conn)) > self.max_bytes:
            shed = self._shed_one_block(conn, floor_seq, newest_seq)
            if shed == 0:
                break  # only events, usage and in-flight readings left: they stay
            dropped += shed
        self.exceeded = used > self.max_bytes
        self._headroom = self.max_bytes - used
        return dropped

    def _shed_one_block(self, conn: sqlite3.Connection, floor_seq: int, newest_seq: int) -> int:
        thinned_through = _meta_int(conn, "thinned_through")
        first_full = _min_seq(conn, max(floor_seq, thinned_through))
        if first_full is not None:
            start, end = self._block_of(first_full)
            if end <= newest_seq:  # a complete block: the one still being written is left alone
                conn.execute("UPDATE meta SET value = ? WHERE key = 'thinned_through'", (end,))
                thinned = _halve(conn, max(start, floor_seq + 1), end)
                if thinned:
                    return thinned
        oldest = _min_seq(conn, floor_seq)
        if oldest is None:
            return 0
        start, end = self._block_of(oldest)
        cur = conn.execute("DELETE FROM readings WHERE seq BETWEEN ? AND ?", (max(start, floor_seq + 1), end))
        return int(cur.rowcount)

    def _block_of(self, seq: int) -> tuple[int, int]:
        start = (seq - 1) // self.block * self.block + 1
        return start, start + self.block - 1


def _halve(conn: sqlite3.Connection, first: int, last: int) -> int:
    rows = conn.execute(
        "SELECT seq, ts, vals, lane FROM readings WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
    ).fetchall()
    keep = rows[::2]
    if len(keep) == len(rows):
        return 0
    conn.execute("DELETE FROM readings WHERE seq BETWEEN ? AND ?", (first, last))
    conn.executemany("INSERT INTO readings (seq, ts, vals, lane) VALUES (?, ?, ?, ?)", keep)
    return len(rows) - len(keep)


def _min_seq(conn: sqlite3.Connection, above: int) -> int | None:
    row = conn.execute("SELECT min(seq) FROM readings WHERE seq > ?", (above,)).fetchone()
    return None if row[0] is None else int(row[0])


def _meta_int(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return 0 if row is None else int(row[0])
