"""DDP under torchrun: 2 CPU ranks over gloo train exactly as 1 process with the same batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("lm_ddp_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               str(WORKER), str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture
def one_process(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(WORKER.parent))
    import lm_ddp_worker
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks run (OMP_NUM_THREADS=1)
    try:
        return lm_ddp_worker.run(tmp_path)
    finally:
        torch.set_num_threads(threads)


def test_two_ranks_draw_the_loss_curve_of_one_process(two_ranks, one_process):
    distributed = json.loads((two_ranks / "history.json").read_text())
    assert [sorted(row) for row in distributed] == [sorted(row) for row in one_process]
    assert [row["step"] for row in distributed if "val_loss" in row] == [0, 5, 10]
    for a, b in zip(distributed, one_process):
        for key in ("train_loss", "val_loss"):
            if key in a:
                assert a[key] == pytest.approx(b[key], rel=1e-5), (a, b)


def test_only_rank_zero_logs_and_writes_checkpoints(two_ranks):
    assert (two_ranks / "checkpoint-rank0" / "checkpoint.json").is_file()
    assert not any(two_ranks.glob("checkpoint-rank1*"))
    assert json.loads((two_ranks / "logged-rank1.json").read_text()) == []
    logged = json.loads((two_ranks / "logged-rank0.json").read_text())
    assert logged == json.loads((two_ranks / "history.json").read_text())
    step = json.loads((two_ranks / "checkpoint-rank0" / "checkpoint.json").read_text())["step"]
    assert step == 10
