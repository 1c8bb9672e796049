"""`replay:PATH[@SPEED]`: a recorded SKAB-format CSV replayed as a live pump, at real or accelerated pace.

Format (SKAB's): `;`-separated, one header row, one row per sample. The eight pump
channels are found by their SKAB column name (`contract.channels` `source_column`:
`Accelerometer1RMS`, …, `Volume Flow RateRMS`) or by our channel name (`accel1_rms`,
…); other columns (`datetime`, `anomaly`, `changepoint`) are ignored. A value is a
decimal number; an empty cell is a missing value (sent as null).

Pace: one row per sample, every `period_s` = the file's row interval / SPEED. The
interval is read from the first two rows' `datetime` column (ISO-8601, as SKAB
writes it), 1 s without that column; `@1` (the default) is real time, `@10` ten
times faster. Readings are stamped with the agent's clock when replayed: a replay
stands in for a live sensor, so its data looks live to the cloud.

End of file (setting `replay_at_eof`): `loop` starts again at the first row (a
demo that runs for ever), `stop` raises `SensorExhaustedError` and the agent stops
after flushing its outbox (exit 0).

Errors: a missing file, a file without all eight pump columns, or one without a
data row is refused at open with `SensorError` naming what is wrong; a malformed
row later in the file is a `SensorError` at its read, naming the line (the agent
counts it as a sensor error and goes on with the next row).
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path
from typing import TextIO

from contract.channels import PUMP_CHANNELS, Channel
from edge.errors import ConfigError, SensorError, SensorExhaustedError

DELIMITER = ";"
TIME_COLUMN = "datetime"
MAX_SPEED = 10_000.0


def parse_replay(argument: str) -> tuple[Path, float]:
    """`PATH[@SPEED]` -> (path, speed); `ConfigError` for a bad speed."""
    path, sep, speed_text = argument.rpartition("@")
    if not sep:
        return Path(argument), 1.0
    try:
        speed = float(speed_text)
    except ValueError:
        raise ConfigError(f"replay:{argument}: the speed after @ must be a number, e.g. @10") from None
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise ConfigError(f"replay:{argument}: the speed must be above 0 and at most {MAX_SPEED:g}")
    return Path(path), speed


class ReplaySensor:
    """Replays the rows of a SKAB-format CSV, one per read."""

    def __init__(self, path: Path, *, speed: float = 1.0, loop: bool = True) -> None:
        self.path = path
        self._loop = loop
        try:
            self._file: TextIO = path.open(newline="", encoding="utf-8")
        except OSError as exc:
            raise SensorError(f"replay: cannot open {path}: {exc.strerror}") from exc
        try:
            self._columns, time_column = self._read_header()
            self._period_s = self._file_interval(time_column) / speed
        except BaseException:
            self._file.close()
            raise

    @classmethod
    def open(cls, argument: str, *, loop: bool) -> ReplaySensor:
        path, speed = parse_replay(argument)
        return cls(path, speed=speed, loop=loop)

    @property
    def asset_kind(self) -> str:
        return "pump"

    @property
    def channels(self) -> tuple[Channel, ...]:
        return PUMP_CHANNELS

    @property
    def period_s(self) -> float:
        return self._period_s

    def read(self) -> tuple[float | None, ...]:
        row = next(self._rows, None)
        if row is None:
            if not self._loop:
                raise SensorExhaustedError(f"replay of {self.path} reached the end of the file")
            self._rewind()
            row = next(self._rows, None)
            if row is None:
                raise SensorError(f"replay: {self.path} has no data rows any more")
        return self._values(row, self._reader.line_num)

    def close(self) -> None:
        self._file.close()

    def _rewind(self) -> None:
        self._file.seek(0)
        self._reader = csv.reader(self._file, delimiter=DELIMITER)
        next(self._reader, None)  # the header
        self._rows = iter(self._reader)

    def _read_header(self) -> tuple[tuple[int, ...], int | None]:
        self._reader = csv.reader(self._file, delimiter=DELIMITER)
        header = [h.strip() for h in next(self._reader, [])]
        self._rows = iter(self._reader)
        index = {name: i for i, name in enumerate(header)}
        columns, missing = [], []
        for channel in PUMP_CHANNELS:
            found = index.get(channel.source_column, index.get(channel.name))
            if found is None:
                missing.append(f"{channel.source_column} (or {channel.name})")
            else:
                columns.append(found)
        if missing:
            raise SensorError(
                f"replay: {self.path} is not a ';'-separated SKAB-format CSV with the pump's columns: "
                f"missing {', '.join(missing)} (header: {DELIMITER.join(header)[:200]!r})"
            )
        return tuple(columns), index.get(TIME_COLUMN)

    def _file_interval(self, time_column: int | None) -> float:
        """The first two rows' time difference (1 s without a time column); checks the first row."""
        first, second = next(self._rows, None), next(self._rows, None)
        if first is None:
            raise SensorError(f"replay: {self.path} has a header but no data rows")
        self._values(first, 2)
        interval = 1.0
        if time_column is not None and second is not None:
            try:
                delta = (datetime.fromisoformat(second[time_column]) - datetime.fromisoformat(first[time_column]))
                interval = delta.total_seconds()
            except (ValueError, IndexError) as exc:
                raise SensorError(f"replay: {self.path} lines 2-3: unreadable {TIME_COLUMN!r}: {exc}") from None
            if not interval > 0:
                raise SensorError(f"replay: {self.path}: {TIME_COLUMN!r} does not increase between lines 2 and 3")
        self._rewind()
        return interval

    def _values(self, row: list[str], line: int) -> tuple[float | None, ...]:
        values: list[float | None] = []
        for channel, column in zip(PUMP_CHANNELS, self._columns, strict=True):
            try:
                text = row[column].strip()
            except IndexError:
                raise SensorError(f"replay: {self.path} line {line}: {len(row)} fields, "
                                  f"no column {column + 1} ({channel.source_column})") from None
            if not text:
                values.append(None)
                continue
            try:
                value = float(text)
            except ValueError:
                raise SensorError(f"replay: {self.path} line {line}: {channel.source_column} {text[:40]!r} "
                                  "is not a number") from None
            values.append(value if math.isfinite(value) else None)
        return tuple(values)
