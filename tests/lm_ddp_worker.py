"""Worker for ``test_lm_ddp.py``: train a tiny LM on synthetic tokens, alone or under torchrun.

``python -m torch.distributed.run --nproc_per_node=2 tests/lm_ddp_worker.py OUT`` trains with
DDP over gloo; :func:`run` without a context is the single-process reference. Each rank is given
its own checkpoint folder and records what ``on_log`` received, so the test can see that only
rank 0 writes and logs; rank 0 writes the history to ``OUT/history.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from algorithms.lm.config import LMConfig
from algorithms.lm.distributed import DistributedContext, init_from_env, shutdown
from algorithms.lm.model import LanguageModel
from algorithms.lm.train import TrainConfig, train

LM_CONFIG = LMConfig(vocab_size=32, d_model=32, n_layers=2, n_heads=2, max_seq_len=16)
CONFIG = TrainConfig(steps=10, batch_size=8, block_size=16, lr=3e-3, warmup_steps=2,
                     grad_accum=2, eval_every=5, eval_batches=2, checkpoint_every=5)


def tokens(n: int, seed: int) -> np.ndarray:
    """A learnable stream: mostly t_{i+1} = t_i + 1 (mod V), sometimes a random jump."""
    rng = np.random.default_rng(seed)
    jumps = rng.random(n) < 0.2
    steps = np.where(jumps, rng.integers(0, LM_CONFIG.vocab_size, n), 1)
    return (np.cumsum(steps) % LM_CONFIG.vocab_size).astype(np.uint16)


def run(out: Path, ctx: DistributedContext | None = None) -> list[dict]:
    rank = 0 if ctx is None else ctx.rank
    torch.manual_seed(0)
    model = LanguageModel(LM_CONFIG)
    logged: list[dict] = []
    result = train(model, tokens(20_000, 0), tokens(4_000, 1), CONFIG,
                   checkpoint_dir=out / f"checkpoint-rank{rank}", on_log=logged.append, ctx=ctx)
    (out / f"logged-rank{rank}.json").write_text(json.dumps(logged))
    if rank == 0:
        (out / "history.json").write_text(json.dumps(result.history))
    return result.history


if __name__ == "__main__":
    context = init_from_env("cpu")
    try:
        run(Path(sys.argv[1]), context)
    finally:
        shutdown(context)
