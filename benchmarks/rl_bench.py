"""Benchmark: forge's PPO vs Stable-Baselines3's PPO on CartPole-v1, side by side in one run.

Both train what week 7's ``ppo-cartpole`` trains at the cpu profile, RL Zoo's CartPole
hyperparameters (n_envs 8, n_steps 32, batch 256, n_epochs 20, γ 0.98, GAE λ 0.8, ent_coef 0,
learning rate linear from 1e-3, clip range linear from 0.2, 1e5 timesteps), with one torch
thread, and stop as soon as the moving average of the last 20 episodes reaches 475 ("solved").
Reported: environment steps and wall time to solve, and environment steps per second. The table
and the machine are written into the "Reinforcement learning (weeks 4, 6, 7)" section of
benchmarks/RESULTS.md.

    python benchmarks/rl_bench.py [--seed 1] [--seeds 10] [--repeats 1] [--no-write]

One seed is one draw: which library needs fewer steps at a given seed is mostly luck of the
random streams. ``--seeds K`` also runs seeds 1..K once each in both libraries and reports the
median and mean steps to solve across them, the comparison that says which implementation learns
faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Reinforcement learning (weeks 4, 6, 7)"
TARGET, WINDOW, BUDGET = 475.0, 20, 100_000


def rl_zoo_config(seed: int) -> Any:
    """The config week 7's ``ppo-cartpole`` trains at the cpu profile (RL Zoo's CartPole
    settings), stopped at the target: both libraries read their hyperparameters from it."""
    from algorithms.weeks.week07.single_runs import PPOCartPoleConfig

    config = PPOCartPoleConfig.for_profile("cpu", seed=seed, algo={"stop_return": TARGET})
    (ppo_config,) = config.algorithm_configs().values()
    # what the SB3 side below assumes: linear schedules to 0, the budget of the table
    assert ppo_config.anneal_lr and ppo_config.anneal_clip
    assert ppo_config.total_timesteps == BUDGET
    return ppo_config


def run_forge(seed: int) -> dict[str, float]:
    from algorithms.policy import ppo

    config = rl_zoo_config(seed)
    start = time.perf_counter()
    result = ppo.train(config)
    wall = time.perf_counter() - start
    solved = result.episodes.solved_at(TARGET, WINDOW)
    return {"steps": float(solved if solved is not None else np.nan),
            "wall_s": wall if solved is not None else np.nan,
            "sps": result.global_step / wall, "total_steps": float(result.global_step)}


def run_sb3(seed: int) -> dict[str, float]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    class StopWhenSolved(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.returns: list[float] = []
            self.solved_at: int | None = None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    if (len(self.returns) >= WINDOW
                            and np.mean(self.returns[-WINDOW:]) >= TARGET):
                        self.solved_at = self.num_timesteps
                        return False
            return True

    c = rl_zoo_config(seed)  # linear schedules: SB3's progress p runs from 1 to 0
    start = time.perf_counter()
    env = make_vec_env(c.env_id, n_envs=c.n_envs, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=c.n_steps, batch_size=c.minibatch_size,
                gae_lambda=c.gae_lambda, gamma=c.gamma, n_epochs=c.n_epochs,
                ent_coef=c.ent_coef, learning_rate=lambda p: c.learning_rate * p,
                clip_range=lambda p: c.clip_coef * p, seed=seed, device="cpu", verbose=0)
    callback = StopWhenSolved()
    model.learn(total_timesteps=c.total_timesteps, callback=callback)
    wall = time.perf_counter() - start
    solved = callback.solved_at
    return {"steps": float(solved if solved is not None else np.nan),
            "wall_s": wall if solved is not None else np.nan,
            "sps": model.num_timesteps / wall, "total_steps": float(model.num_timesteps)}


def machine() -> str:
    import gymnasium
    import stable_baselines3
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores visible, load average at start {load}; "
            f"Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} thread), gymnasium {gymnasium.__version__}, "
            f"stable-baselines3 {stable_baselines3.__version__}")


def seed_table(seeds: list[int]) -> list[str]:
    """Each seed once in both libraries (alternating): a table of steps and wall time to solve."""
    per: dict[str, list[float]] = {"forge": [], "sb3": [], "forge_wall": [], "sb3_wall": []}
    for seed in seeds:
        f, s = run_forge(seed), run_sb3(seed)
        per["forge"].append(f["steps"])
        per["sb3"].append(s["steps"])
        per["forge_wall"].append(f["wall_s"])
        per["sb3_wall"].append(s["wall_s"])
        print(f"seed {seed}: forge {f['steps']:,.0f} steps ({f['wall_s']:.1f} s), "
              f"SB3 {s['steps']:,.0f} steps ({s['wall_s']:.1f} s)", flush=True)
    lines = ["| seed | forge steps | SB3 steps | forge wall s | SB3 wall s |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {seed} | {per['forge'][i]:,.0f} | {per['sb3'][i]:,.0f} | "
              f"{per['forge_wall'][i]:.1f} | {per['sb3_wall'][i]:.1f} |"
              for i, seed in enumerate(seeds)]
    for name, fn in (("median", np.nanmedian), ("mean", np.nanmean)):
        f_steps, s_steps = fn(per["forge"]), fn(per["sb3"])
        f_wall, s_wall = fn(per["forge_wall"]), fn(per["sb3_wall"])
        lines.append(f"| **{name}** | **{f_steps:,.0f}** | **{s_steps:,.0f}** | "
                     f"**{f_wall:.1f}** | **{s_wall:.1f}** |")
    solved = {k: int(np.sum(np.isfinite(per[k]))) for k in ("forge", "sb3")}
    lines.append("")
    lines.append(f"Solved within {BUDGET:,} steps: forge {solved['forge']}/{len(seeds)}, SB3 "
                 f"{solved['sb3']}/{len(seeds)}. forge advantage on the median: steps "
                 f"{np.nanmedian(per['sb3']) / np.nanmedian(per['forge']):.2f}×, wall "
                 f"{np.nanmedian(per['sb3_wall']) / np.nanmedian(per['forge_wall']):.2f}×.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=0, help="also run seeds 1..K once each")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    # one-time imports (torch's optimiser pulls in torch._dynamo, ~2 s) are paid before either
    # timer starts, so that whichever library runs first is not charged for them
    import stable_baselines3.ppo  # noqa: F401

    from algorithms.policy import ppo  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    info = machine()
    runs: dict[str, list[dict[str, float]]] = {"forge": [], "sb3": []}
    for _ in range(args.repeats):  # alternate, so that load changes hit both alike
        runs["forge"].append(run_forge(args.seed))
        runs["sb3"].append(run_sb3(args.seed))
    med = {name: {key: float(np.median([r[key] for r in rs])) for key in rs[0]}
           for name, rs in runs.items()}
    f, s = med["forge"], med["sb3"]
    rows = [
        ("env steps to solve", f"{f['steps']:,.0f}", f"{s['steps']:,.0f}",
         f"{s['steps'] / f['steps']:.2f}×"),
        ("wall time to solve (s)", f"{f['wall_s']:.1f}", f"{s['wall_s']:.1f}",
         f"{s['wall_s'] / f['wall_s']:.2f}×"),
        ("env steps / s (training)", f"{f['sps']:,.0f}", f"{s['sps']:,.0f}",
         f"{f['sps'] / s['sps']:.2f}×"),
    ]
    table = ["| CartPole-v1, seed {} | forge PPO | SB3 PPO | forge advantage |".format(args.seed),
             "|---|---:|---:|---:|"] + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    seeds_section: list[str] = []
    if args.seeds:
        seeds_section = [
            f"### Across seeds 1–{args.seeds} (one run each)", "",
            "At one seed, which library needs fewer steps is a draw of the two random streams; "
            "the medians across seeds compare the implementations.", "",
            *seed_table(list(range(1, args.seeds + 1))), ""]
    section = "\n".join([
        HEADING, "",
        f"`benchmarks/rl_bench.py --seed {args.seed} --seeds {args.seeds} --repeats "
        f"{args.repeats}` "
        f"({time.strftime('%Y-%m-%d')}): PPO on CartPole-v1 with RL Zoo's hyperparameters in "
        "both libraries (8 envs × 32 steps, batch 256, 20 epochs, γ 0.98, λ 0.8, linear lr 1e-3 "
        "and clip 0.2, one torch thread), stopped when the 20-episode moving average reaches "
        f"475; medians of {args.repeats} alternating run(s) each. \"forge advantage\" > 1 means "
        "forge is better (fewer steps, less time, more steps per second).", "",
        *table, "", *seeds_section,
        f"Machine: {info}. The machine is shared with other jobs, so wall times vary by "
        "run; compare the ratios.", ""])
    print(section)
    if not args.no_write:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if HEADING in text:
            before, rest = text.split(HEADING, 1)
            nxt = rest.find("\n## ")
            after = rest[nxt + 1:] if nxt >= 0 else ""
            text = before + section + ("\n" + after if after else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
