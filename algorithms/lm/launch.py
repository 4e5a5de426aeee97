"""The command line of :func:`algorithms.lm.train.train`: ``torchrun --nproc_per_node=N -m
algorithms.lm.train --corpus tinystories --out DIR`` trains with DistributedDataParallel, one
process per device (plain ``python -m`` for one process); bad input is one line, exit 2."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from algorithms.lm.distributed import barrier
from algorithms.lm.train import AUTOCAST, TrainConfig, train


def _arguments(argv: list[str] | None):
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m algorithms.lm.train",
        description="Pre-train forge's LLaMA-shape LM; run under torchrun for data parallelism.")
    p.add_argument("--corpus", required=True, choices=["tinystories", "shakespeare"])
    p.add_argument("--out", required=True, type=Path, help="run folder: checkpoint/, history")
    p.add_argument("--corpus-file", type=Path, help="training text replacing the shipped one")
    p.add_argument("--cache-dir", type=Path, help="tokenizer and token cache (default OUT/cache)")
    p.add_argument("--vocab-size", type=int, default=2048, help="BPE vocabulary (tinystories)")
    for name, default in (("d-model", 128), ("n-layers", 4), ("n-heads", 4)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--n-kv-heads", type=int)
    p.add_argument("--max-seq-len", type=int, help="default: the block size")
    defaults = TrainConfig(steps=1, batch_size=1, block_size=1)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=32, help="global batch")
    p.add_argument("--block-size", type=int, default=128)
    floats = ("lr", "min_lr", "weight_decay", "beta1", "beta2", "grad_clip")
    for name in (*floats, "warmup_steps", "grad_accum", "eval_every", "eval_batches",
                 "checkpoint_every", "seed"):
        default = getattr(defaults, name)
        kind = float if name in floats else int
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--autocast", choices=AUTOCAST, default="auto")
    p.add_argument("--device", help="default: cuda if available, else cpu")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint if present")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``torchrun --nproc_per_node=N -m algorithms.lm.train --corpus ... --out DIR``
    (or plain ``python -m`` for one process). Rank 0 prints one line per evaluation and writes
    ``DIR/history.json``; the checkpoint is ``DIR/checkpoint``."""
    from algorithms.lm.config import LMConfig
    from algorithms.lm.data import load_lm_data
    from algorithms.lm.distributed import init_from_env, shutdown
    from algorithms.lm.model import LanguageModel

    args = _arguments(argv)
    ctx = init_from_env(args.device)
    try:
        cache = args.cache_dir or args.out / "cache"
        if ctx.is_main:  # rank 0 tokenizes and caches once; the others then read the cache
            data = load_lm_data(args.corpus, cache, args.vocab_size, args.corpus_file)
        barrier(ctx)
        if not ctx.is_main:
            data = load_lm_data(args.corpus, cache, args.vocab_size, args.corpus_file)
        config = TrainConfig(**{f.name: getattr(args, f.name)
                                for f in dataclasses.fields(TrainConfig)})
        lm_config = LMConfig(vocab_size=data.vocab_size, d_model=args.d_model,
                             n_layers=args.n_layers, n_heads=args.n_heads,
                             n_kv_heads=args.n_kv_heads,
                             max_seq_len=args.max_seq_len or args.block_size)
        torch.manual_seed(args.seed)  # the same initial weights on every rank
        model = LanguageModel(lm_config)
        if ctx.is_main:
            print(f"{args.corpus}: {len(data.train):,} training tokens, vocab "
                  f"{data.vocab_size}; model {model.n_params():,} parameters; "
                  f"{ctx.world_size} process(es) on {ctx.device}", flush=True)

        def on_log(row: dict) -> None:
            if "val_loss" in row:
                print(f"step {row['step']:>7}  val loss {row['val_loss']:.4f}  "
                      f"ppl {row['val_ppl']:.2f}", flush=True)

        result = train(model, data.train, data.val, config, checkpoint_dir=args.out /
                       "checkpoint", resume=args.resume, on_log=on_log, ctx=ctx,
                       tokenizer_dir=data.tokenizer_dir)
        if ctx.is_main:
            summary = {"history": result.history, "final_val_loss": result.final_val_loss,
                       "tokens_seen": result.tokens_seen, "tokens_per_s": result.tokens_per_s,
                       "world_size": ctx.world_size, "train_config": config.to_dict(),
                       "lm_config": lm_config.to_dict()}
            tmp = args.out / "history.json.tmp"
            tmp.write_text(json.dumps(summary, indent=1), "utf-8")
            os.replace(tmp, args.out / "history.json")
            print(f"done: {result.tokens_per_s:,.0f} tokens/s", flush=True)
    finally:
        shutdown(ctx)
