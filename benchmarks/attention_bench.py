"""Benchmark the week-3 attention variants against PyTorch's scaled_dot_product_attention.

    python benchmarks/attention_bench.py                  # CPU table (+ GPU tables on CUDA)
    python benchmarks/attention_bench.py --lengths 512 1024 --no-write

On the CPU: forward + backward time and peak memory of every variant in
``algorithms.attention.variants.VARIANTS`` at a few sequence lengths, and their ratios to SDPA.
Peak memory on the CPU is counted from live tensors (``algorithms.attention.profiling``:
every tensor an ATen op returns, forward and backward, until freed); on CUDA it is
``torch.cuda.max_memory_allocated``.

On a GPU (``torch.cuda.is_available()``): the Triton FlashAttention kernel
(``algorithms/attention/flash_triton.py``) against SDPA restricted to its flash backend, in
half precision, with achieved TFLOP/s (forward 4·B·H·N²·d FLOPs, halved when causal; forward +
backward 3.5× that, FlashAttention-2's count).

The results and the machine (platform, cores, CPU model) replace the "## Attention (week 3)"
section of benchmarks/RESULTS.md; the other sections are kept.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from algorithms.attention.profiling import LengthSweep, crossovers  # noqa: E402
from algorithms.attention.variants import LINEAR_MEMORY_FAMILIES, VARIANTS  # noqa: E402

from benchmarks.report import machine, markdown, write_section  # noqa: E402

HEADING = "## Attention (week 3)"


def cpu_table(lengths: list[int], heads: int, head_dim: int, budget_s: float,
              repeats: int, time_limit_ms: float) -> list[str]:
    torch.manual_seed(0)
    sweep = LengthSweep({name: v for name, v in VARIANTS.items() if not v.cuda_only}, batch=1,
                        heads=heads, head_dim=head_dim, max_len=max(lengths),
                        device=torch.device("cpu"), budget_s=budget_s, max_repeats=repeats,
                        time_limit_ms=time_limit_ms, length_limits={"additive": 512})
    for length in lengths:
        for name, m in sweep.measure_at(length).items():
            print(f"  L={length:6d} {name:15s} fwd+bwd {m.forward_backward_ms:9.2f} ms "
                  f"{m.forward_backward_mib:9.2f} MiB", file=sys.stderr, flush=True)
    results = sweep.results
    header = ["variant"] + [f"L={n}: ms (×SDPA)" for n in lengths] \
        + [f"L={n}: MiB (×SDPA)" for n in lengths]
    rows = []
    for name, per_length in results.items():
        cells = [VARIANTS[name].label]
        for key in ("forward_backward_ms", "forward_backward_mib"):
            for n in lengths:
                if n not in per_length:
                    cells.append("–")
                    continue
                value = getattr(per_length[n], key)
                ref = getattr(results["sdpa"][n], key)
                cells.append(_number(value) if name == "sdpa"
                             else f"{_number(value)} ({_ratio(value / ref)}×)")
        rows.append(cells)
    lines = markdown(header, rows)

    # where the sub-quadratic variants become cheaper than the quadratic references
    lines += ["", "Crossover lengths, forward + backward (log-log interpolation between the "
                  "measured lengths; '≤ L' cheaper already at the shortest, '> L' not cheaper "
                  "at the longest):", ""]
    candidates = [name for name in results if VARIANTS[name].family in LINEAR_MEMORY_FAMILIES]
    found = {(c.variant, c.reference, c.quantity): c.length
             for c in crossovers(results, candidates, ("sdpa", "dense"))}
    rows = []
    for name in candidates:
        cells = [VARIANTS[name].label]
        for quantity, reference in (("time", "sdpa"), ("time", "dense"), ("memory", "sdpa"),
                                    ("memory", "dense")):
            where = found[name, reference, quantity]
            common = sorted(set(results[name]) & set(results[reference]))
            cells.append(f"> {common[-1]}" if where is None
                         else f"≤ {common[0]}" if where == common[0] else f"{where:.0f}")
        rows.append(cells)
    lines += markdown(["variant", "time < SDPA from L", "time < dense from L",
                        "memory < SDPA from L", "memory < dense from L"], rows)
    return lines


def _ratio(value: float) -> str:
    return f"{value:.2g}" if value < 10 else f"{value:.0f}"


def _number(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def gpu_tables(lengths: list[int], batch: int, heads: int, head_dims: list[int],
               dtype: torch.dtype) -> list[str]:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from algorithms.attention.flash_triton import TritonFlashAttention

    def sdpa_flash(q, k, v, causal):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def triton_flash(q, k, v, causal):
        return TritonFlashAttention.apply(q, k, v, causal, None)

    def timed(fn, backward: bool) -> float:
        def run():
            out = fn()
            if backward:
                out.backward(grad)
        for _ in range(3):
            run()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(10):
            run()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 10

    lines = []
    header = ["d", "causal", "N", "Triton fwd ms", "SDPA-flash fwd ms", "Triton fwd TFLOP/s",
              "SDPA-flash fwd TFLOP/s", "Triton fwd+bwd TFLOP/s", "SDPA-flash fwd+bwd TFLOP/s",
              "max |Δ| out"]
    rows = []
    for head_dim in head_dims:
        for causal in (False, True):
            for n in lengths:
                q, k, v = (torch.randn(batch, heads, n, head_dim, device="cuda", dtype=dtype,
                                       requires_grad=True) for _ in range(3))
                grad = torch.randn_like(q)
                flops = 4 * batch * heads * n * n * head_dim * (0.5 if causal else 1.0)
                diff = (triton_flash(q, k, v, causal) - sdpa_flash(q, k, v, causal)).abs().max()
                ms = {}
                for name, fn in (("triton", triton_flash), ("sdpa", sdpa_flash)):
                    ms[name, False] = timed(lambda: fn(q, k, v, causal), False)
                    ms[name, True] = timed(lambda: fn(q, k, v, causal), True)
                rows.append([head_dim, causal, n, f"{ms['triton', False]:.3f}",
                             f"{ms['sdpa', False]:.3f}",
                             f"{flops / ms['triton', False] / 1e9:.1f}",
                             f"{flops / ms['sdpa', False] / 1e9:.1f}",
                             f"{3.5 * flops / ms['triton', True] / 1e9:.1f}",
                             f"{3.5 * flops / ms['sdpa', True] / 1e9:.1f}", f"{float(diff):.2e}"])
                print(f"  d={head_dim} causal={causal} N={n}: {rows[-1][3:]}", file=sys.stderr,
                      flush=True)
    lines += markdown(header, rows)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--budget", type=float, default=0.5, help="timing budget per point (s)")
    parser.add_argument("--repeats", type=int, default=5, help="best of at most this many")
    parser.add_argument("--time-limit-ms", type=float, default=5000.0,
                        help="a variant slower than this is not run at longer lengths")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (0: PyTorch's default, all cores). 1 by "
                             "default: on a machine shared with other jobs, threads that "
                             "spin-wait on a busy core make multi-threaded timings meaningless")
    parser.add_argument("--gpu-lengths", type=int, nargs="+",
                        default=[1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    section = [f"Written by `benchmarks/attention_bench.py` on "
               f"{datetime.date.today().isoformat()}.", "", *machine(), ""]
    section += [f"### CPU: forward + backward, batch 1, {args.heads} query heads, head dim "
                f"{args.head_dim}, float32, no mask", "",
                "Best of up to "
                f"{args.repeats} runs after a warm-up. Peak memory: live-tensor accounting above "
                "the inputs (every tensor an ATen op returns, forward and backward, until "
                "freed; scratch buffers inside fused kernels are not seen). Ratios are to "
                "PyTorch SDPA at the same length (below 1: cheaper). MQA/GQA: 1 and 2 key/value "
                "heads. '–': not run (additive beyond 512, or slower than "
                f"{args.time_limit_ms / 1000:g} s at a shorter length). "
                + (f"{torch.get_num_threads()} intra-op thread(s) (`--threads`): on a machine "
                   "shared with other jobs, threads that wait on a busy core make "
                   "multi-threaded timings erratic; every variant gets the same thread count, "
                   "so the ratios compare the algorithms." if args.threads > 0 else
                   "All cores (PyTorch's default thread count)."), ""]
    section += cpu_table(args.lengths, args.heads, args.head_dim, args.budget, args.repeats,
                         args.time_limit_ms)
    section.append("")
    section += ["Configurations: " + "; ".join(f"{v.label}: {v.note}" for v in VARIANTS.values()
                                               if v.note and not v.cuda_only) + ".", ""]
    if torch.cuda.is_available():
        dtype = torch.float16
        section += ["### GPU: Triton FlashAttention vs SDPA's flash backend",
                    "", "float16, batch 4, 16 heads; CUDA-event timing, mean of 10 after 3 "
                        "warm-ups.", ""]
        section += gpu_tables(args.gpu_lengths, 4, 16, [64, 128], dtype)
    else:
        section += ["### GPU", "", "Not run: no CUDA device on this machine. The Triton kernel "
                    "(`algorithms/attention/flash_triton.py`) has been checked only in Triton's "
                    "CPU interpreter (`TRITON_INTERPRET=1`, tests/test_attention_exact.py), "
                    "never compiled for or timed on a GPU."]
    section += ["", f"Total benchmark time: {time.perf_counter() - started:.0f} s."]
    print("\n".join(section))
    if not args.no_write:
        write_section(args.out, HEADING, section)
        print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
