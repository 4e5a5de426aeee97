"""Benchmark Mamba's selective scan (week 5): forge's loop and parallel scans against mambapy's.

    python benchmarks/scan_bench.py [--widths 128 256] [--lengths 64 256 1024] [--batch 8]
                                    [--d-state 16] [--rounds 7] [--threads 1 2] [--no-write]

The same selective scan y = SSM(Ā, B̄, C)(x) + D x (Gu & Dao 2023, Algorithm 2) from the same
inputs (x, Δ, A, B, C, D; float32, on the CPU) by four implementations:

* forge ``selective_scan(..., method="sequential")``: the loop over time (``sequential_scan``);
* forge ``selective_scan(..., method="parallel")``: the pairwise log-depth scan with its
  written-out backward (``parallel_scan``);
* mambapy 1.2's ``MambaBlock.selective_scan_seq`` (its loop) and ``MambaBlock.selective_scan``
  (its Blelloch ``pscan``, padded to a power of two, with its own backward).

Forward: under ``torch.no_grad()`` (inference). Forward + backward: the gradient of ⟨y, g⟩ for a
fixed g with respect to all six inputs. The four take turns in every round (the order rotating),
each measurement repeats a call until it lasts ≥ 40 ms, and a ratio is the median over rounds of
the two times measured in the same round, so that both saw the same machine load. Peak MiB:
live tensors of one forward + backward (``LiveTensorMeter``), inputs excluded.

The results decide ``MambaMixer(scan="auto")`` on the CPU (``algorithms.lm.mamba._auto_scan``);
they replace the "## Week 5: selective scan" section of benchmarks/RESULTS.md, the other
sections kept.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mambapy.mamba import MambaBlock, MambaConfig  # noqa: E402

from algorithms.attention.profiling import LiveTensorMeter  # noqa: E402
from algorithms.lm.mamba import _auto_scan, selective_scan  # noqa: E402

from benchmarks.report import machine, markdown, publish  # noqa: E402

HEADING = "## Week 5: selective scan"
NAMES = ("forge loop", "mambapy loop", "forge parallel", "mambapy pscan")
MIN_MEASURE_S = 0.04
SLOW_CALL_S, SLOW_ROUNDS = 1.0, 3  # a call over a second is measured in the first 3 rounds only
SLOW_LOOP = ("mambapy's loop indexes the (batch, L, ED, N) tensors at each step "
             "(`deltaA[:, t]`), and the backward of each indexing writes a full-size zero "
             "gradient: O(L²) memory traffic, where forge's loop takes the steps with one "
             "`unbind` (one `stack` in the backward)")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_inputs(batch: int, length: int, ed: int, n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, ed, generator=g)
    # Δ around its initial range (softplus of a bias near softplus⁻¹(0.01) plus noise)
    delta = F.softplus(torch.randn(batch, length, ed, generator=g) - 4.0)
    A = -torch.arange(1, n + 1, dtype=torch.float32).expand(ed, n).contiguous()
    B = torch.randn(batch, length, n, generator=g)
    C = torch.randn(batch, length, n, generator=g)
    D = torch.ones(ed)
    return [t.requires_grad_() for t in (x, delta, A, B, C, D)]


def implementations(ed: int, n: int) -> dict[str, Callable[..., torch.Tensor]]:
    # mambapy's scans are MambaBlock methods; they read only config.d_inner and d_state
    block = MambaBlock(MambaConfig(d_model=ed // 2, n_layers=1, d_state=n, expand_factor=2))
    return {"forge loop": lambda *a: selective_scan(*a, method="sequential"),
            "mambapy loop": block.selective_scan_seq,
            "forge parallel": lambda *a: selective_scan(*a, method="parallel"),
            "mambapy pscan": block.selective_scan}


def forward(fn, inputs, g) -> None:
    with torch.no_grad():
        fn(*inputs)


def forward_backward(fn, inputs, g) -> None:
    torch.autograd.grad(fn(*inputs), inputs, g)


def measure(work, fn, inputs, g, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        work(fn, inputs, g)
    return (time.perf_counter() - start) / repeats


def calibrate(work, fn, inputs, g) -> tuple[int, float]:
    """Calls per measurement so that one measurement lasts about MIN_MEASURE_S, and the
    seconds of one call (the first, a warm-up, is not counted)."""
    once = measure(work, fn, inputs, g, 1)
    if once < 1.0:
        once = measure(work, fn, inputs, g, 1)
    return max(1, round(MIN_MEASURE_S / max(once, 1e-6))), once


def peak_mib(fn, inputs, g) -> float:
    with LiveTensorMeter() as meter:
        forward_backward(fn, inputs, g)
    return meter.peak / 2**20


def run_size(batch: int, length: int, ed: int, n: int, rounds: int,
             max_loop_backward: int) -> dict:
    inputs = make_inputs(batch, length, ed, n)
    impls = implementations(ed, n)
    with torch.no_grad():
        ys = {name: fn(*inputs) for name, fn in impls.items()}
    deviation = max((ys[name] - ys["forge loop"]).abs().max().item() for name in impls)
    g = torch.randn_like(ys["forge loop"])
    result = {"deviation": deviation}
    for label, work in (("fwd", forward), ("fwd+bwd", forward_backward)):
        active = dict(impls)
        if label == "fwd+bwd" and length > max_loop_backward:
            del active["mambapy loop"]  # its backward is O(L²), see SLOW_LOOP
        calibration = {name: calibrate(work, fn, inputs, g) for name, fn in active.items()}
        times: dict[str, list[float]] = {name: [] for name in active}
        order = list(active)
        for r in range(rounds):
            for name in order[r % len(order):] + order[:r % len(order)]:
                repeats, once = calibration[name]
                if once > SLOW_CALL_S and r >= SLOW_ROUNDS:
                    continue  # ratios pair rounds, so the first SLOW_ROUNDS still pair
                times[name].append(measure(work, active[name], inputs, g, repeats))
        result[label] = times
    result["peak"] = {k: peak_mib(fn, inputs, g) for k, fn in impls.items()
                      if k in result["fwd+bwd"]}
    return result


def ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of a's time / b's time in the same round."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def ms(times: dict[str, list[float]], name: str) -> str:
    return f"{1000 * statistics.median(times[name]):.2f}" if name in times else "not run"


def bold_ratio(times: dict[str, list[float]], a: str, b: str) -> str:
    return f"**{ratio(times, a, b):.2f}×**" if a in times and b in times else "—"


def table(results: dict, label: str) -> tuple[list[str], dict[int, tuple[int, int]]]:
    header = ["threads", "ED", "L", "forge loop ms", "mambapy loop ms", "forge / mambapy",
              "forge parallel ms", "mambapy pscan ms", "forge / mambapy",
              "forge parallel / forge loop"]
    rows, wins = [], {}
    for (threads, ed, length), res in results.items():
        t = res[label]
        p_over_s = ratio(t, "forge parallel", "forge loop")
        won, total = wins.get(threads, (0, 0))
        wins[threads] = (won + (p_over_s < 1), total + 1)
        rows.append([threads, ed, length, ms(t, "forge loop"), ms(t, "mambapy loop"),
                     bold_ratio(t, "forge loop", "mambapy loop"),
                     ms(t, "forge parallel"), ms(t, "mambapy pscan"),
                     bold_ratio(t, "forge parallel", "mambapy pscan"),
                     f"{p_over_s:.2f}×"])
    return markdown(header, rows), wins


def auto_at(threads: int) -> str:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _auto_scan(torch.device("cpu"))
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256],
                        help="ED, the expanded width (channels of the scan)")
    parser.add_argument("--d-state", type=int, default=16)
    parser.add_argument("--lengths", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--max-loop-backward", type=int, default=64,
                        help="longest L at which mambapy's loop is run backward (O(L²))")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                        help="torch intra-op thread counts, one sweep each (default: 1 and "
                             "every core, PyTorch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    command = "python benchmarks/scan_bench.py " + " ".join(sys.argv[1:])
    omp = os.environ.get("OMP_NUM_THREADS")
    env = f"OMP_NUM_THREADS={omp} " if omp else ""

    started = time.perf_counter()
    section = [f"`{env}{command.strip()}` ({datetime.date.today().isoformat()}).", "",
               *machine(f", mambapy {version('mambapy')}"), ""]
    results = {}
    for threads in dict.fromkeys(args.threads):
        torch.set_num_threads(threads)
        for ed in args.widths:
            for length in args.lengths:
                _log(f"  {threads} threads, ED {ed}, L {length} ...")
                results[(threads, ed, length)] = run_size(args.batch, length, ed, args.d_state,
                                                          args.rounds, args.max_loop_backward)
    section += [
        f"The selective scan y = SSM(Ā, B̄, C)(x) + D x of Algorithm 2 (Ā = exp(ΔA), B̄x = ΔBx) "
        f"from the same float32 inputs: batch {args.batch}, N = {args.d_state}, ED channels "
        f"and L steps as in the rows; the (batch, L, ED, N) tensors Ā and B̄x are formed by all "
        f"four. Loop: a Python loop over time (forge `sequential_scan`, mambapy "
        f"`selective_scan_seq`); parallel: forge's pairwise log-depth scan with a written-out "
        f"backward (`parallel_scan`), mambapy's Blelloch `pscan` (padded to a power of two). "
        f"The four take turns in each of {args.rounds} rounds; times are medians, a ratio is "
        f"the median over rounds of the two times of one round (same load); below 1× forge "
        f"is faster.", ""]
    for label, title in (("fwd", "Forward (`torch.no_grad()`)"),
                         ("fwd+bwd", "Forward + backward (gradients of all six inputs)")):
        lines, wins = table(results, label)
        section += [f"### {title}", "", *lines, "",
                    "forge's parallel scan is faster than its loop at "
                    + "; ".join(f"{won} of {total} sizes with {threads} thread(s)"
                                for threads, (won, total) in wins.items()) + ".", ""]
    section += [f"Calls over {SLOW_CALL_S:g} s are measured in the first {SLOW_ROUNDS} rounds "
                f"only. mambapy's loop is not run backward beyond L = {args.max_loop_backward}: "
                f"{SLOW_LOOP}.", ""]
    header = ["threads", "ED", "L", *NAMES, "max |y − y_forge loop|"]
    rows = [[threads, ed, length, *(f"{res['peak'][k]:.1f}" if k in res["peak"] else "not run"
                           for k in NAMES), f"{res['deviation']:.1e}"]
            for (threads, ed, length), res in results.items() if threads == args.threads[0]]
    section += [f"### Peak live-tensor MiB of one forward + backward, and agreement "
                f"({args.threads[0]} thread(s))", "",
                *markdown(header, rows), "",
                "`MambaMixer(scan=\"auto\")` on the CPU runs "
                + ", ".join(f"`{auto_at(k)}` with {k} thread(s)"
                            for k in dict.fromkeys(args.threads))
                + " (`algorithms/lm/mamba.py`, `_auto_scan`; chosen from these tables).", ""]
    publish(section, HEADING, started, args.out, write=not args.no_write)


if __name__ == "__main__":
    main()
