"""Benchmark: forge's PPO and DQN against Stable-Baselines3's on CartPole-v1, in one run.

PPO: both train what week 7's ``ppo-cartpole`` trains at the cpu profile, RL Zoo's CartPole
hyperparameters (n_envs 8, n_steps 32, batch 256, n_epochs 20, γ 0.98, GAE λ 0.8, ent_coef 0,
learning rate linear from 1e-3, clip range linear from 0.2, 1e5 timesteps), with one torch
thread, and stop as soon as the moving average of the last 20 episodes reaches 475 ("solved").
Reported: environment steps and wall time to solve, and environment steps per second. The table
and the machine are written into the "Reinforcement learning (weeks 4, 6, 7)" section of
benchmarks/RESULTS.md.

DQN: both train RL Zoo's dqn.yml CartPole-v1 settings, read from one source, week 14's
``RL_ZOO_CARTPOLE`` (``algorithms/weeks/week14/common.py``) turned into forge's ``DQNConfig``:
5e4 timesteps, learning rate 2.3e-3, batch 64, buffer 1e5, learning_starts 1000, γ 0.99,
train_freq 256 env steps then gradient_steps 128, ε from 1 to 0.04 over the first 16% of the
budget, an MLP of [256, 256], Huber loss, gradient norm clipped at 10, hard target copies,
one env, one torch thread. forge's ``stop_return`` and, in SB3, a callback stop both at the
same target as PPO (20-episode moving average of the training returns ≥ 475); a second
reading, RL Zoo's, judges the greedy policy: every 2,500 env steps both libraries' greedy
policies play 10 episodes through forge's ``evaluate`` on the same seeds, and the first
evaluation with a mean ≥ 475 counts as solved (``EVAL_EVERY``; the evaluations' time is in
both libraries' wall time). The one
hyperparameter whose unit differs is the target update: RL Zoo's ``target_update_interval: 10``
counts *env* steps in SB3 (``DQN._on_step`` copies θ⁻ ← θ every 10 calls of ``env.step``), and
since θ only changes inside the training phases, that is one copy of the online net before
every training phase, so each phase of 128 gradient steps bootstraps from the net as the
previous phase left it. forge counts its ``target_update_interval`` in *gradient* steps, and
``RL_ZOO_CARTPOLE`` sets it to 128 = gradient_steps: a copy at the end of every phase, the
same schedule (a copy every 10 gradient steps would be a different, diverging algorithm). So
SB3 gets RL Zoo's literal 10 and forge its 128; :func:`dqn_config` asserts the conditions under
which the two agree (C = gradient_steps, 10 ≤ train_freq, τ = 1). Each seed runs once in each
library, the order alternating from seed to seed (forge first at odd seeds), so that load
drifts hit both alike. Written into the "Value-based RL (week 14)" section of RESULTS.md.

    python benchmarks/rl_bench.py [--algo ppo|dqn|all] [--seed 1] [--seeds 10] [--repeats 1]
                                  [--no-write]

One seed is one draw: which library needs fewer steps at a given seed is mostly luck of the
random streams. For PPO, ``--seeds K`` also runs seeds 1..K once each in both libraries and
reports the median and mean steps to solve across them, the comparison that says which
implementation learns faster; ``--repeats`` is the number of alternating runs of PPO at
``--seed``. DQN runs seeds 1..K once each (``--seed`` alone when ``--seeds`` is 0); a run that
never solves within the budget counts as ∞ in the medians.
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
DQN_HEADING = "## Value-based RL (week 14)"
TARGET, WINDOW, BUDGET = 475.0, 20, 100_000
DQN_BUDGET = 50_000  # RL Zoo's n_timesteps for DQN on CartPole-v1
SB3_TARGET_UPDATE_INTERVAL = 10  # RL Zoo's target_update_interval: env steps in SB3
DQN_REACH = 400.0  # week 14's value-vs-policy "reach": a second, lower bar for DQN's table
# RL Zoo judges DQN greedily (its EvalCallback): every EVAL_EVERY env steps both libraries'
# greedy policies play EVAL_EPISODES episodes through forge's ``evaluate`` on the same seeds,
# and a run is "solved greedily" at the first evaluation whose mean return reaches TARGET
EVAL_EVERY, EVAL_EPISODES = 2_500, 10


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


def stop_when_solved() -> Any:
    """An SB3 callback that records the training episodes' returns (the Monitor wrapper's
    ``info["episode"]``) and stops training once their ``WINDOW``-episode moving average reaches
    ``TARGET``; ``solved_at`` is the env step of that episode's end."""
    from stable_baselines3.common.callbacks import BaseCallback

    class StopWhenSolved(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.returns: list[float] = []
            self.steps: list[int] = []  # the env step at which each episode ended
            self.solved_at: int | None = None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    self.steps.append(self.num_timesteps)
                    if (len(self.returns) >= WINDOW
                            and np.mean(self.returns[-WINDOW:]) >= TARGET):
                        self.solved_at = self.num_timesteps
                        return False
            return True

    return StopWhenSolved()


def run_sb3(seed: int) -> dict[str, float]:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    c = rl_zoo_config(seed)  # linear schedules: SB3's progress p runs from 1 to 0
    start = time.perf_counter()
    env = make_vec_env(c.env_id, n_envs=c.n_envs, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=c.n_steps, batch_size=c.minibatch_size,
                gae_lambda=c.gae_lambda, gamma=c.gamma, n_epochs=c.n_epochs,
                ent_coef=c.ent_coef, learning_rate=lambda p: c.learning_rate * p,
                clip_range=lambda p: c.clip_coef * p, seed=seed, device="cpu", verbose=0)
    callback = stop_when_solved()
    model.learn(total_timesteps=c.total_timesteps, callback=callback)
    wall = time.perf_counter() - start
    solved = callback.solved_at
    return {"steps": float(solved if solved is not None else np.nan),
            "wall_s": wall if solved is not None else np.nan,
            "sps": model.num_timesteps / wall, "total_steps": float(model.num_timesteps)}


# ----------------------------------------------------------------------------- DQN (week 14)


def dqn_config(seed: int) -> Any:
    """forge's ``DQNConfig`` from week 14's ``RL_ZOO_CARTPOLE`` (RL Zoo's dqn.yml CartPole-v1),
    stopped at the target: both libraries read their hyperparameters from it."""
    from algorithms.weeks.rl_common import algorithm_config
    from algorithms.weeks.week14.common import RL_ZOO_CARTPOLE

    c = algorithm_config("dqn", {**RL_ZOO_CARTPOLE, "stop_return": TARGET,
                                 "eval_every": EVAL_EVERY, "eval_episodes": EVAL_EPISODES},
                         seed=seed)
    # what the SB3 side below assumes: vanilla DQN (SB3's), one env, the budget of the table
    assert c.total_timesteps == DQN_BUDGET and c.n_envs == 1
    assert not (c.double or c.dueling or c.prioritized) and c.n_step == 1 and c.loss == "huber"
    assert c.stop_eval_return is None and c.probe_every == 0 and not c.normalize_env
    # the target-update mapping of the module docstring: forge copies θ⁻ after every training
    # phase (C = gradient_steps, counted in gradient steps), SB3 at least once in every
    # rollout of train_freq env steps (10 ≤ train_freq), while θ does not move: the same copies
    assert c.tau == 1.0 and c.target_update_interval == c.gradient_steps
    assert SB3_TARGET_UPDATE_INTERVAL <= c.train_freq
    return c


def best_average(returns: list[float]) -> float:
    """The highest ``WINDOW``-episode moving average of a run's training returns (nan if it had
    fewer episodes): how close a run that did not solve came."""
    if len(returns) < WINDOW:
        return float("nan")
    return float(np.max(np.convolve(returns, np.ones(WINDOW) / WINDOW, mode="valid")))


def reached_at(steps: list[int], returns: list[float], threshold: float) -> float:
    """The env step at which the ``WINDOW``-episode moving average first reached ``threshold``
    (nan if never): ``EpisodeLog.solved_at`` for SB3's episodes."""
    from algorithms.policy.envs import EpisodeLog

    hit = EpisodeLog(steps=list(steps), returns=list(returns)).solved_at(threshold, WINDOW)
    return float(hit) if hit is not None else np.nan


def greedy_solved_at(steps: list[int], returns: list[float]) -> float:
    """The env step of the first greedy evaluation whose mean return reached ``TARGET`` (nan
    if none did)."""
    hits = [step for step, ret in zip(steps, returns) if ret >= TARGET]
    return float(hits[0]) if hits else np.nan


def greedy_evaluations(env_id: str, seed: int) -> Any:
    """An SB3 callback that every ``EVAL_EVERY`` env steps evaluates the greedy policy with
    forge's ``evaluate`` on the seeds forge's DQN validates on (30 000 + 100 · seed)."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from algorithms.policy.envs import evaluate

    class Greedy:  # forge's agent interface over SB3's deterministic predict
        def __init__(self, model: Any) -> None:
            self.model = model

        def act(self, obs: Any, deterministic: bool = True) -> tuple[Any, None, None]:
            action, _ = self.model.predict(obs.numpy(), deterministic=deterministic)
            return torch.as_tensor(action), None, None

    class GreedyEvaluations(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[int] = []
            self.returns: list[float] = []

        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY == 0:
                self.steps.append(self.num_timesteps)
                self.returns.append(float(np.mean(evaluate(
                    Greedy(self.model), env_id, EVAL_EPISODES, seed=30_000 + 100 * seed))))
            return True

    return GreedyEvaluations()


def run_forge_dqn(seed: int) -> dict[str, float]:
    from algorithms.value import dqn

    config = dqn_config(seed)
    start = time.perf_counter()
    result = dqn.train(config)
    wall = time.perf_counter() - start
    solved = result.episodes.solved_at(TARGET, WINDOW)
    return {"steps": float(solved if solved is not None else np.nan),
            "wall_s": wall if solved is not None else np.nan, "run_s": wall,
            "sps": result.global_step / wall, "total_steps": float(result.global_step),
            "best_avg": best_average(result.episodes.returns),
            "reach": reached_at(result.episodes.steps, result.episodes.returns, DQN_REACH),
            "greedy": greedy_solved_at(result.history.get("eval_step", []),
                                       result.history.get("eval_return", []))}


def run_sb3_dqn(seed: int) -> dict[str, float]:
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    c = dqn_config(seed)
    start = time.perf_counter()
    env = make_vec_env(c.env_id, n_envs=c.n_envs, seed=seed)
    model = DQN("MlpPolicy", env, learning_rate=c.learning_rate, buffer_size=c.buffer_size,
                learning_starts=c.learning_starts, batch_size=c.batch_size, tau=c.tau,
                gamma=c.gamma, train_freq=c.train_freq, gradient_steps=c.gradient_steps,
                target_update_interval=SB3_TARGET_UPDATE_INTERVAL,
                exploration_fraction=c.exploration_fraction,
                exploration_initial_eps=c.exploration_initial_eps,
                exploration_final_eps=c.exploration_final_eps, max_grad_norm=c.max_grad_norm,
                policy_kwargs={"net_arch": list(c.hidden)}, seed=seed, device="cpu", verbose=0)
    from stable_baselines3.common.callbacks import CallbackList

    callback, greedy = stop_when_solved(), greedy_evaluations(c.env_id, seed)
    model.learn(total_timesteps=c.total_timesteps, callback=CallbackList([greedy, callback]))
    wall = time.perf_counter() - start
    solved = callback.solved_at
    return {"steps": float(solved if solved is not None else np.nan),
            "greedy": greedy_solved_at(greedy.steps, greedy.returns),
            "wall_s": wall if solved is not None else np.nan, "run_s": wall,
            "sps": model.num_timesteps / wall, "total_steps": float(model.num_timesteps),
            "best_avg": best_average(callback.returns),
            "reach": reached_at(callback.steps, callback.returns, DQN_REACH)}


def dqn_seed_table(seeds: list[int]) -> tuple[list[str], dict[str, float]]:
    """Each seed once in both libraries, the order alternating by seed: per-seed steps and wall
    time to solve and steps per second, their medians (a run that never solved counts as ∞) and
    the means over the solved runs, and the solved counts."""
    runs: dict[str, list[dict[str, float]]] = {"forge": [], "sb3": []}
    for seed in seeds:
        order = ("forge", "sb3") if seed % 2 else ("sb3", "forge")
        for lib in order:
            runs[lib].append((run_forge_dqn if lib == "forge" else run_sb3_dqn)(seed))
        f, s = runs["forge"][-1], runs["sb3"][-1]
        print(f"DQN seed {seed} ({' first, '.join(order)} second): forge {f['steps']:,.0f} steps "
              f"({f['run_s']:.1f} s, {f['sps']:,.0f} steps/s, best avg {f['best_avg']:.1f}), "
              f"SB3 {s['steps']:,.0f} steps ({s['run_s']:.1f} s, {s['sps']:,.0f} steps/s, "
              f"best avg {s['best_avg']:.1f}); to {DQN_REACH:.0f}: forge {f['reach']:,.0f}, "
              f"SB3 {s['reach']:,.0f}; to greedy {TARGET:.0f}: forge {f['greedy']:,.0f}, "
              f"SB3 {s['greedy']:,.0f}", flush=True)

    def col(lib: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in runs[lib]], dtype=float)

    def steps_cell(r: dict[str, float]) -> str:
        if np.isfinite(r["steps"]):
            return f"{r['steps']:,.0f}"
        return f"not solved (best avg {r['best_avg']:.0f})"

    def wall_cell(r: dict[str, float]) -> str:
        return f"{r['wall_s']:.1f}" if np.isfinite(r["wall_s"]) else f"— ({r['run_s']:.1f})"

    def big(x: float, fmt: str) -> str:  # ∞: the median is an unsolved run; —: none solved
        return f"**{x:{fmt}}**" if np.isfinite(x) else "**∞**" if np.isinf(x) else "—"

    def reach_cell(r: dict[str, float], key: str = "reach") -> str:
        return f"{r[key]:,.0f}" if np.isfinite(r[key]) else "not reached"

    lines = ["| seed | forge steps | SB3 steps | forge wall s | SB3 wall s | forge steps/s | "
             f"SB3 steps/s | forge steps to {DQN_REACH:.0f} | SB3 steps to {DQN_REACH:.0f} | "
             f"forge steps to greedy {TARGET:.0f} | SB3 steps to greedy {TARGET:.0f} |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i, seed in enumerate(seeds):
        f, s = runs["forge"][i], runs["sb3"][i]
        lines.append(f"| {seed} | {steps_cell(f)} | {steps_cell(s)} | {wall_cell(f)} | "
                     f"{wall_cell(s)} | {f['sps']:,.0f} | {s['sps']:,.0f} | {reach_cell(f)} | "
                     f"{reach_cell(s)} | {reach_cell(f, 'greedy')} | {reach_cell(s, 'greedy')} |")
    # medians: an unsolved run is worse than any solved one (∞); means: over the solved runs
    keys = ("steps", "wall_s", "reach", "greedy")
    inf = {lib: {k: np.nan_to_num(col(lib, k), nan=np.inf) for k in keys} for lib in runs}
    stats = {f"{lib}_{k}_median": float(np.median(inf[lib][k])) for lib in runs for k in keys}
    stats |= {f"{lib}_sps_median": float(np.median(col(lib, "sps"))) for lib in runs}
    lines.append("| **median** | " + " | ".join(
        [big(stats[f"{lib}_steps_median"], ",.0f") for lib in runs]
        + [big(stats[f"{lib}_wall_s_median"], ".1f") for lib in runs]
        + [big(stats[f"{lib}_sps_median"], ",.0f") for lib in runs]
        + [big(stats[f"{lib}_reach_median"], ",.0f") for lib in runs]
        + [big(stats[f"{lib}_greedy_median"], ",.0f") for lib in runs]) + " |")

    def solved_mean(lib: str, key: str) -> float:
        x = col(lib, key)
        return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")

    lines.append("| **mean** (steps, wall, steps to reach: of the runs that got there) | "
                 + " | ".join(
        [big(solved_mean(lib, "steps"), ",.0f") for lib in runs]
        + [big(solved_mean(lib, "wall_s"), ".1f") for lib in runs]
        + [big(float(np.mean(col(lib, "sps"))), ",.0f") for lib in runs]
        + [big(solved_mean(lib, "reach"), ",.0f") for lib in runs]
        + [big(solved_mean(lib, "greedy"), ",.0f") for lib in runs]) + " |")
    solved = {lib: int(np.sum(np.isfinite(col(lib, "steps")))) for lib in runs}
    stats |= {f"{lib}_solved": float(solved[lib]) for lib in runs}
    stats |= {f"{lib}_best_avg_median": float(np.nanmedian(col(lib, "best_avg"))) for lib in runs}

    def ratio(num: float, den: float) -> str:
        if np.isinf(num) and np.isinf(den):
            return "— (neither median solved)"
        if np.isinf(den) or np.isinf(num):
            return "— (" + ("forge" if np.isinf(den) else "SB3") + "'s median unsolved)"
        return f"{num / den:.2f}×"

    lines += ["", f"Solved within {DQN_BUDGET:,} steps: forge {solved['forge']}/{len(seeds)}, "
              f"SB3 {solved['sb3']}/{len(seeds)}. forge advantage on the median (SB3 / forge; > 1: "
              f"forge better): steps "
              f"{ratio(stats['sb3_steps_median'], stats['forge_steps_median'])}, wall "
              f"{ratio(stats['sb3_wall_s_median'], stats['forge_wall_s_median'])}; steps per "
              f"second forge / SB3 {stats['forge_sps_median'] / stats['sb3_sps_median']:.2f}×."]
    reached = {lib: int(np.sum(np.isfinite(col(lib, "reach")))) for lib in runs}
    lines += ["", f"Second bar, {DQN_REACH:.0f} (week 14's value-vs-policy `reach`): reached by "
              f"forge at {reached['forge']}/{len(seeds)} seeds, SB3 at {reached['sb3']}/"
              f"{len(seeds)}; median steps to reach it (not reached = ∞) forge "
              f"{big(stats['forge_reach_median'], ',.0f')}, SB3 "
              f"{big(stats['sb3_reach_median'], ',.0f')}."]
    lines += ["", "Median over the seeds of each run's best 20-episode average of the training "
              f"returns: forge {stats['forge_best_avg_median']:.1f}, SB3 "
              f"{stats['sb3_best_avg_median']:.1f}."]
    f_med, s_med = stats["forge_steps_median"], stats["sb3_steps_median"]
    if np.isinf(f_med) and np.isinf(s_med):
        verdict = ("**undecided by the step medians**: both are ∞ (neither library solves at "
                   "half of the seeds or more); on the solved counts forge "
                   f"{solved['forge']} vs SB3 {solved['sb3']}, on the median best average "
                   f"forge {stats['forge_best_avg_median']:.1f} vs SB3 "
                   f"{stats['sb3_best_avg_median']:.1f}")
    else:
        met = f_med <= s_med and solved["forge"] >= solved["sb3"]
        verdict = ("**met**" if met else "**not met**") + (
            f" (median steps forge {big(f_med, ',.0f')} vs SB3 {big(s_med, ',.0f')}; "
            f"solved forge "
            f"{solved['forge']} vs SB3 {solved['sb3']})")
    lines += ["", "Issue 18's target, forge at least as good as SB3 on the medians (steps to "
              f"solve, and no fewer seeds solved): {verdict}."]
    greedy = {lib: int(np.sum(np.isfinite(col(lib, "greedy")))) for lib in runs}
    f_med, s_med = stats["forge_greedy_median"], stats["sb3_greedy_median"]
    met = f_med <= s_med and greedy["forge"] >= greedy["sb3"]
    lines += ["", f"Judged greedily, as RL Zoo judges DQN (mean of {EVAL_EPISODES} greedy "
              f"episodes every {EVAL_EVERY:,} env steps, the same seeds for both, first "
              f"evaluation ≥ {TARGET:.0f}): solved by forge at {greedy['forge']}/{len(seeds)} "
              f"seeds, SB3 at {greedy['sb3']}/{len(seeds)}; median steps forge "
              f"{big(f_med, ',.0f')}, SB3 {big(s_med, ',.0f')}: the target on this reading is "
              + ("**undecided** (both medians ∞)." if np.isinf(f_med) and np.isinf(s_med)
                 else "**met**." if met else "**not met**.")]
    stats |= {f"{lib}_greedy_solved": float(greedy[lib]) for lib in runs}
    return lines, stats


def dqn_section(seeds: list[int], info: str, date: str, command: str) -> list[str]:
    c = dqn_config(seeds[0])
    table, _ = dqn_seed_table(seeds)
    seeds_text = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    return [
        DQN_HEADING, "",
        f"`benchmarks/rl_bench.py {command}` ({date}): DQN on "
        f"CartPole-v1 with RL Zoo's dqn.yml hyperparameters in both libraries, from one config "
        f"(week 14's `RL_ZOO_CARTPOLE`): {c.total_timesteps:,} timesteps, lr {c.learning_rate}, "
        f"batch {c.batch_size}, buffer {c.buffer_size:,}, learning_starts "
        f"{c.learning_starts:,}, γ {c.gamma}, train_freq {c.train_freq} env steps then "
        f"{c.gradient_steps} gradient steps, ε {c.exploration_initial_eps:g} → "
        f"{c.exploration_final_eps} over the first {c.exploration_fraction:.0%} of the budget, "
        f"MLP {list(c.hidden)}, Huber loss, gradient norm ≤ {c.max_grad_norm:g}, one env, one "
        "torch thread. Target network: RL Zoo's `target_update_interval: 10` counts env steps "
        "in SB3, which (θ being fixed between training phases) is one copy before every phase; "
        f"forge counts gradient steps and copies every {c.target_update_interval} = "
        "gradient_steps, the same schedule (SB3 gets 10, forge 128). Both stop when the "
        "20-episode moving average of the training returns (ε-greedy, ε = "
        f"{c.exploration_final_eps} after the decay) reaches 475; steps = the env step of "
        f"that episode's end. {seeds_text.capitalize()}, one run each in each library, the "
        "order alternating by seed (forge first at odd seeds). A run that does not solve shows "
        "its best 20-episode average, and its full run time in parentheses; it counts as ∞ in "
        "the medians and is left out of the means of steps and wall time. Steps per second: "
        "env steps of the whole "
        "run over its wall time.", "",
        f"### Across {seeds_text} (one run each)", "",
        *table, "",
        "For context only (a different budget and setup): CleanRL's dqn.py reports 488.69 ± "
        "16.11 on CartPole-v1 after 500k steps.", "",
        f"Machine: {info}. The machine is shared with other jobs, so wall times vary by "
        "run; compare the ratios.", ""]


def write_section(heading: str, section: str) -> None:
    """Replace the section under ``heading`` in RESULTS.md (up to the next ``## ``), or append
    it; every other section is kept as it is."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if heading in text:
        before, rest = text.split(heading, 1)
        nxt = rest.find("\n## ")
        after = rest[nxt + 1:] if nxt >= 0 else ""
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


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


def ppo_section(args: argparse.Namespace, info: str) -> str:
    """The PPO section: ``--repeats`` alternating runs at ``--seed``, and seeds 1..``--seeds``."""
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
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=("ppo", "dqn", "all"), default="all",
                        help="which comparison to run (default: both)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=0,
                        help="PPO: also run seeds 1..K once each; DQN: run seeds 1..K "
                             "(0: --seed only)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternating runs of each (PPO at --seed)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    # one-time imports (torch's optimiser pulls in torch._dynamo, ~2 s) are paid before either
    # timer starts, so that whichever library runs first is not charged for them
    import stable_baselines3.dqn  # noqa: F401
    import stable_baselines3.ppo  # noqa: F401

    from algorithms.policy import ppo  # noqa: F401
    from algorithms.value import dqn  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    info = machine()
    if args.algo in ("ppo", "all"):
        section = ppo_section(args, info)
        print(section, flush=True)
        if not args.no_write:
            write_section(HEADING, section)
    if args.algo in ("dqn", "all"):
        seeds = list(range(1, args.seeds + 1)) if args.seeds else [args.seed]
        command = f"--algo {args.algo} " + (f"--seeds {args.seeds}" if args.seeds
                                              else f"--seed {args.seed}")
        started = time.perf_counter()
        lines = dqn_section(seeds, info, time.strftime("%Y-%m-%d"), command)
        lines[-1:-1] = ["", f"Total time of the DQN runs: {time.perf_counter() - started:.0f} s."]
        section = "\n".join(lines)
        print(section, flush=True)
        if not args.no_write:
            write_section(DQN_HEADING, section)


if __name__ == "__main__":
    main()
