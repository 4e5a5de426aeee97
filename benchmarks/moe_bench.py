"""Benchmark the MoE feed-forward layer (algorithms/lm/moe.py) against a dense SwiGLU of equal
active parameters, on the CPU.

    python benchmarks/moe_bench.py [--d-models 128 256] [--tokens 2048] [--rounds 25]
                                   [--threads 1] [--no-write]

Every MoE expert is ``SwiGLU(d_model, hidden)``, LLaMA's hidden width (int(8/3 · d_model)
rounded up to a multiple of 32). The dense reference does the same work per token as the MoE's
experts: a ``SwiGLU(d_model, k · hidden)`` for top-k (k = 1: one expert's shape; k = 2: twice
the width), so the ratio MoE / dense measures what routing costs (the router, the sort, the gather and the
scatter-add) and what splitting one matrix product into several smaller ones costs. N = 1, k = 1
is the pure routing overhead: the same network as the dense one behind a router.

Measured, in float32, on ``--tokens`` tokens (batch 8): forward under ``torch.inference_mode``,
and forward + backward (the MoE's loss includes 0.01 · balance loss + 0.001 · z-loss, as a model
trains it). Routing balanced (Gaussian tokens) or skewed (tokens sharing a common offset, so a
few experts take most of them); capacity factor ``None`` (nothing dropped: both do the same
FLOPs) or 1.25 (Switch's training value; dropped assignments skip their expert, so the MoE does
less work). MoE and dense take turns in rounds, so each ratio compares the two under the same
machine load; reported are tokens/s and the ratio of the best calls (other jobs only add time),
and the median of the per-round ratios as a check.

The results and the machine replace the "## Week 5: MoE layer" section of
benchmarks/RESULTS.md; the other sections are kept.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from algorithms.lm.layers import SwiGLU  # noqa: E402
from algorithms.lm.moe import MoEFeedForward  # noqa: E402

from benchmarks.report import machine, markdown, publish  # noqa: E402

HEADING = "## Week 5: MoE layer"
CONFIGS = ((1, 1), (4, 1), (8, 1), (8, 2))   # (experts, top-k)
# (inputs, capacity factor): Gaussian tokens route evenly at initialisation; "skewed" tokens
# share a common offset SKEW · u, so the router favours a few experts (as a real, untrained
# router on real hidden states does), and capacity 1.25 drops some assignments
SCENARIOS = (("balanced", None), ("skewed", None), ("skewed", 1.25))
SKEW = 0.5
BATCH = 8


def llama_hidden(d_model: int, multiple_of: int = 32) -> int:
    """LMConfig.hidden_dim's rule for SwiGLU: int(8/3 · d) rounded up to ``multiple_of``."""
    return multiple_of * -(-int(2 * 4 * d_model / 3) // multiple_of)


def forward_step(module: nn.Module, x: Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            module(x)
    return step


def training_step(module: nn.Module, x: Tensor, grad: Tensor) -> Callable[[], None]:
    def step() -> None:
        loss = (module(x) * grad).sum()
        if isinstance(module, MoEFeedForward):
            loss = loss + 0.01 * module.balance_loss + 0.001 * module.z_loss
        loss.backward()
        for p in module.parameters():
            p.grad = None
    return step


def paired(moe: Callable[[], None], dense: Callable[[], None],
           rounds: int) -> tuple[float, float, float, float]:
    """The two take turns, one call each per round, after a warm-up round. Returns each one's
    best seconds per call, the ratio of the bests (MoE / dense) and the median of the per-round
    ratios. On a shared machine other jobs only ever add time, so the best call is the least
    disturbed; the paired median is the check that the ratio holds call for call."""
    times: dict[str, list[float]] = {"moe": [], "dense": []}
    for _ in range(rounds + 1):
        for name, fn in (("moe", moe), ("dense", dense)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    moe_t, dense_t = times["moe"][1:], times["dense"][1:]
    paired_median = statistics.median(a / b for a, b in zip(moe_t, dense_t))
    return min(moe_t), min(dense_t), min(moe_t) / min(dense_t), paired_median


def run(d_models: list[int], n_tokens: int, rounds: int) -> list[str]:
    header = ["d_model", "hidden", "experts N", "top-k", "routing", "capacity factor",
              "dropped", "MoE params", "active params", "fwd MoE tok/s", "fwd dense tok/s",
              "fwd MoE / dense time (paired median)", "fwd+bwd MoE tok/s", "fwd+bwd dense tok/s",
              "fwd+bwd MoE / dense time (paired median)"]
    rows = []
    for d_model in d_models:
        hidden = llama_hidden(d_model)
        torch.manual_seed(0)
        inputs = {"balanced": torch.randn(BATCH, n_tokens // BATCH, d_model)}
        shift = torch.randn(d_model, generator=torch.Generator().manual_seed(5))
        inputs["skewed"] = inputs["balanced"] + SKEW * shift
        grad = torch.randn_like(inputs["balanced"])
        for n_experts, top_k in CONFIGS:
            for routing, factor in SCENARIOS if n_experts > 1 else SCENARIOS[:1]:
                x = inputs[routing]
                torch.manual_seed(1)
                moe = MoEFeedForward(d_model, n_experts, top_k, factor,
                                     make_expert=lambda: SwiGLU(d_model, hidden))
                dense = SwiGLU(d_model, top_k * hidden)
                moe(x)
                dropped, cv = float(moe.stats.dropped), float(moe.stats.load_cv)
                fwd = paired(forward_step(moe, x), forward_step(dense, x), rounds)
                bwd = paired(training_step(moe, x, grad), training_step(dense, x, grad), rounds)
                active = sum(p.numel() for p in dense.parameters()) + moe.router.weight.numel()
                rows.append([
                    d_model, hidden, n_experts, top_k, f"{routing} (load CV {cv:.2f})",
                    "None" if factor is None else factor, f"{dropped:.1%}",
                    f"{sum(p.numel() for p in moe.parameters()):,}", f"{active:,}",
                    f"{n_tokens / fwd[0]:,.0f}", f"{n_tokens / fwd[1]:,.0f}",
                    f"**{fwd[2]:.2f}×** ({fwd[3]:.2f}×)",
                    f"{n_tokens / bwd[0]:,.0f}", f"{n_tokens / bwd[1]:,.0f}",
                    f"**{bwd[2]:.2f}×** ({bwd[3]:.2f}×)"])
                print("  " + " | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    return markdown(header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-models", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per batch (batch 8)")
    parser.add_argument("--rounds", type=int, default=25,
                        help="timed rounds (one call of each) after a warm-up round")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (0: PyTorch's default, all cores). 1 by "
                             "default: on a machine shared with other jobs, threads that wait "
                             "on a busy core make multi-threaded timings erratic")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    command = "python benchmarks/moe_bench.py " + " ".join(sys.argv[1:])

    started = time.perf_counter()
    section = [f"`{command.strip()}` ({datetime.date.today().isoformat()}).", "", *machine(), ""]
    section += [
        "### MoE feed-forward vs a dense SwiGLU of equal active parameters, CPU, float32", "",
        f"{args.tokens} tokens per batch (batch {BATCH}); experts `SwiGLU(d_model, hidden)`, "
        f"hidden = LLaMA's width for d_model; the dense reference is `SwiGLU(d_model, k · "
        f"hidden)`, the same FLOPs per token as the k experts a token visits (active params: "
        f"dense + router). Forward: `torch.inference_mode`; forward + backward: loss Σ out ⊙ g "
        f"(+ 0.01 · balance + 0.001 · z-loss for the MoE). MoE and dense alternate, one call "
        f"each, in {args.rounds} rounds after a warm-up round; tok/s is from each one's best "
        f"call (other jobs on a shared machine only add time), the ratio is MoE time / dense "
        f"time of the best calls (above 1: the MoE is slower), and in parentheses the median "
        f"of the per-round ratios. Routing 'balanced': Gaussian tokens "
        f"x ~ N(0, I) at the initial router; 'skewed': x + {SKEW} · u with one fixed Gaussian "
        f"u for every token, so the router favours a few experts (load CV: std / mean of the "
        f"experts' shares). Capacity factor None: nothing dropped, the same FLOPs as dense; "
        f"1.25: Switch's training value, dropped assignments skip their expert (less work "
        f"than dense). N = 1: the dense network behind a router, the routing overhead alone. "
        f"{torch.get_num_threads()} intra-op thread(s).", ""]
    section += run(args.d_models, args.tokens, args.rounds)
    section.append("")
    publish(section, HEADING, started, args.out, write=not args.no_write)


if __name__ == "__main__":
    main()
