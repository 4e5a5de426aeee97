"""Read an offline W&B run back from its transaction log (``run-<id>.wandb``).

wandb >= 0.29 writes and syncs these files in its Go core and no longer ships a Python reader,
so this is one, written to the format its docs describe: a LevelDB log
(https://github.com/google/leveldb/blob/main/doc/log_format.md) after a 7-byte W&B header,
each record a ``wandb.proto.wandb_internal_pb2.Record`` protobuf, the messages ``wandb sync``
uploads. Tests use it to check that what an experiment sent is what W&B stored.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = struct.Struct("<4sHB")  # ident ":W&B", magic 0xBEE1, version 0
CHUNK = struct.Struct("<IHB")  # crc32 of type byte + data, data length, chunk type
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """Every complete record of the log, in order, checksums verified."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    ident, magic, version = HEADER.unpack_from(data)
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), f"{path}: not a W&B log"
    position, pending = HEADER.size, b""
    while position + CHUNK.size <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < CHUNK.size:  # a block's tail too short for a chunk is padding
            position += left_in_block
            continue
        checksum, length, kind = CHUNK.unpack_from(data, position)
        if kind == 0:  # zero padding up to the end of the block
            position += left_in_block
            continue
        if position + CHUNK.size + length > len(data):  # still being written
            return
        chunk = data[position + CHUNK.size:position + CHUNK.size + length]
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == checksum, f"{path}: bad checksum"
        position += CHUNK.size + length
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


@dataclass
class OfflineRun:
    history: list[dict[str, Any]] = field(default_factory=list)
    """One dict per ``wandb.log`` W&B kept, W&B's own keys (``_step``, ``_runtime``) included;
    a table or an image is the dict W&B stored for it (``{"_type": "table-file", ...}``)."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """``define_metric`` calls by name: the MetricRecord protos."""
    summary: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Any] = field(default_factory=list)
    """``log_artifact`` calls: the ArtifactRecord protos (name, type, manifest)."""
    exit_code: int | None = None


def read_run(run_dir: Path, wait_s: float = 30.0) -> OfflineRun:
    """The offline run in ``run_dir`` (``wandb/offline-run-<time>-<id>/``), once complete.

    ``run.finish()`` returns before W&B's core has written the log's last block (measured:
    the file stops at a block boundary, 32 KiB, for some tenths of a second), so this waits up
    to ``wait_s`` for the exit record, which W&B writes last.
    """
    (log,) = Path(run_dir).glob("run-*.wandb")
    deadline = time.monotonic() + wait_s
    while (run := _read(log)).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return run


def _read(log: Path) -> OfflineRun:
    run = OfflineRun()
    for record in records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set(row, list(item.nested_key) or [item.key], json.loads(item.value_json))
            run.history.append(row)
        elif kind == "metric":
            run.metrics[record.metric.name] = record.metric
        elif kind == "summary":
            for item in record.summary.update:
                _set(run.summary, list(item.nested_key) or [item.key], json.loads(item.value_json))
        elif kind == "artifact":
            run.artifacts.append(record.artifact)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def _set(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value
