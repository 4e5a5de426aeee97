"""Week 4: policy optimisation — REINFORCE → NPG → TRPO → PPO, variance reduction, off-policy
corrections (Williams 1992; Kakade 2001; Schulman et al. 2015, 2016, 2017; Espeholt et al. 2018).

* ``comparative-study``: the four algorithms on CartPole-v1 and Acrobot-v1, seeds inside the run,
  learning curves with 95% bands. NPG takes Kakade's fixed step α·F⁻¹g, TRPO the KL-radius step
  with its line search; the summary keeps the KL each update really moved and how often TRPO's
  line search had to shrink the step.
* ``variance-reduction``: REINFORCE with Ψ = G_t (no baseline), G_t − V(s_t) (baseline) and GAE
  with a λ sweep: the measured variance of the gradient estimator as well as the returns.
* ``off-policy-corrections``: on a small random MDP with exact values, the bias and variance of
  off-policy value targets from μ-data — no correction, per-decision importance sampling
  (V-trace with ρ̄ = c̄ = ∞) and V-trace with truncation ρ̄ ∈ {0.5, 1, 2} — against n.
* ``impala-vtrace``: IMPALA (2 actor processes + a learner) on CartPole with and without the
  V-trace correction, at IMPALA's usual small policy lag and with actors that refresh their
  weights only every 128 unrolls.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment

UNITS = {"*steps*": "steps", "*wall_s": "s", "*sps": "steps/s"}


# ----------------------------------------------------------------------------- comparative study

class ComparativeConfig(ExperimentConfig):
    environments: tuple[str, ...] = ("CartPole-v1", "Acrobot-v1")
    algorithms: tuple[str, ...] = ("reinforce", "npg", "trpo", "ppo")
    total_timesteps: int = 60_000  # per (algorithm, environment, seed)
    n_seeds: int = 3
    grid_points: int = 50
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"environments": ("CartPole-v1",), "total_timesteps": 512, "n_seeds": 1,
                  "grid_points": 5},
        "gpu": {"environments": ("CartPole-v1", "Acrobot-v1", "LunarLander-v3"),
                "total_timesteps": 500_000, "n_seeds": 10}}


LABELS = {"reinforce": "REINFORCE", "npg": "NPG", "trpo": "TRPO", "ppo": "PPO"}


def _train(algorithm: str, env_id: str, steps: int, seed: int):
    from algorithms.policy import npg, ppo, reinforce, trpo

    small = steps < 4096  # smoke: batches that fit the budget
    if algorithm == "reinforce":
        return reinforce.train(reinforce.ReinforceConfig(
            env_id=env_id, total_timesteps=steps, estimator="gae", gae_lambda=0.97,
            episodes_per_batch=2 if small else 8, seed=seed))
    if algorithm == "npg":  # Kakade's fixed step α; with normalised advantages, α = 1 moves
        # the policy by about TRPO's δ early in training and by less once gradients shrink
        return npg.train(npg.NPGConfig(env_id=env_id, total_timesteps=steps, step_size=1.0,
                                       n_steps=64 if small else 256, seed=seed))
    if algorithm == "trpo":
        return trpo.train(trpo.TRPOConfig(env_id=env_id, total_timesteps=steps,
                                          n_steps=64 if small else 256, seed=seed))
    return ppo.train(ppo.PPOConfig(env_id=env_id, total_timesteps=steps, seed=seed))


@experiment(week=4, name="comparative-study", covers=(2,), config=ComparativeConfig, units=UNITS)
def comparative_study(config: ComparativeConfig, tracker: Tracker) -> dict[str, float]:
    """REINFORCE → NPG → TRPO → PPO on several environments, curves over seeds."""
    import numpy as np

    from algorithms.harness import curve, nanmean, table_rows
    from algorithms.plotting import band_figure

    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    curves: dict[str, dict[str, list]] = {e: {a: [] for a in config.algorithms}
                                          for e in config.environments}
    finals: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    step_kl: dict[str, list[float]] = {}  # NPG / TRPO: the true KL each update moved
    backtracked: dict[str, list[float]] = {}  # TRPO: share of updates whose full step failed
    jobs = [(e, a, s) for e in config.environments for a in config.algorithms
            for s in range(config.seed, config.seed + config.n_seeds)]
    for env_id, algorithm, seed in tracker.track(jobs, total=len(jobs),
                                                 description="comparative study"):
        result = _train(algorithm, env_id, config.total_timesteps, seed)
        curves[env_id][algorithm].append(curve(result.episodes, grid))
        finals.setdefault(f"{env_id} {LABELS[algorithm]}", []).append(
            result.episodes.mean_return(20))
        walls.setdefault(f"{env_id} {LABELS[algorithm]}", []).append(result.wall_s)
        if algorithm in ("npg", "trpo"):
            step_kl.setdefault(f"{env_id} {algorithm}", []).extend(result.history["approx_kl"])
            backtracked.setdefault(f"{env_id} {algorithm}", []).extend(
                np.asarray(result.history["step_fraction"]) < 1.0)
    summary: dict[str, float] = {}
    for env_id, by_algo in curves.items():
        env = env_id.split("-")[0].lower()
        for algorithm, cs in by_algo.items():
            mean = nanmean(np.asarray(cs), axis=0)
            for i, step in enumerate(grid):
                if np.isfinite(mean[i]):
                    tracker.log({f"study/{env}/{algorithm}/episodic_return": float(mean[i])},
                                step=int(step))
            summary[f"{env}.{algorithm}.final_return"] = float(
                np.mean(finals[f"{env_id} {LABELS[algorithm]}"]))
            summary[f"{env}.{algorithm}.wall_s"] = float(
                np.mean(walls[f"{env_id} {LABELS[algorithm]}"]))
            if f"{env_id} {algorithm}" in step_kl:
                kls = np.asarray(step_kl[f"{env_id} {algorithm}"])
                summary[f"{env}.{algorithm}.median_step_kl"] = float(np.median(kls))
                summary[f"{env}.{algorithm}.max_step_kl"] = float(np.max(kls))
                if algorithm == "trpo":
                    summary[f"{env}.trpo.backtracked_share"] = float(
                        np.mean(backtracked[f"{env_id} {algorithm}"]))
    tracker.log_table("study/final_return", ["run", "mean", "ci95", "per_seed"],
                      table_rows(finals))
    fig = band_figure({e: {LABELS[a]: (grid, np.asarray(cs)) for a, cs in by.items()}
                       for e, by in curves.items()}, "return (20-episode moving average)")
    tracker.log_figure(
        "study/episodic_return", fig,
        f"REINFORCE (GAE λ=0.97 weights, 8 episodes per batch), NPG (fixed step α = 1 along "
        f"F⁻¹g) and TRPO (KL radius δ = 0.01 with line search), both with batch 2048 and GAE "
        f"λ=0.97, and PPO-clip (RL-Zoo CartPole settings) on "
        f"{', '.join(config.environments)}: mean over {config.n_seeds} seeds with 95% "
        "t-intervals, same env-step budget for each.")
    return summary


# ----------------------------------------------------------------------------- variance

class VarianceConfig(ExperimentConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 40_000
    n_seeds: int = 3
    lambdas: tuple[float, ...] = (0.0, 0.5, 0.9, 0.97)  # GAE λ sweep
    episodes_per_batch: int = 8
    grid_points: int = 40
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 300, "n_seeds": 1, "lambdas": (0.9,),
                  "episodes_per_batch": 4, "grid_points": 5},
        "gpu": {"total_timesteps": 200_000, "n_seeds": 10, "lambdas": (0.0, 0.5, 0.8, 0.9,
                                                                       0.95, 0.97, 0.99)}}


@experiment(week=4, name="variance-reduction", covers=(3,), config=VarianceConfig, units=UNITS)
def variance_reduction(config: VarianceConfig, tracker: Tracker) -> dict[str, float]:
    """REINFORCE's gradient variance: no baseline vs baseline vs GAE(λ), measured."""
    import numpy as np

    from algorithms.policy import reinforce
    from algorithms.harness import curve, curve_of, nanmean, table_rows
    from algorithms.plotting import band_figure

    variants = {"no baseline": {"estimator": "return"}, "baseline": {"estimator": "baseline"}}
    variants |= {f"GAE λ={lam:g}": {"estimator": "gae", "gae_lambda": lam}
                 for lam in config.lambdas}
    grid = np.linspace(0, config.total_timesteps, config.grid_points)
    ret, var = ({k: [] for k in variants} for _ in range(2))
    finals, mean_var, snr = ({k: [] for k in variants} for _ in range(3))
    jobs = [(k, s) for k in variants for s in range(config.seed, config.seed + config.n_seeds)]
    for label, seed in tracker.track(jobs, total=len(jobs), description="variance ablation"):
        result = reinforce.train(reinforce.ReinforceConfig(
            env_id=config.env_id, total_timesteps=config.total_timesteps,
            episodes_per_batch=config.episodes_per_batch, measure_variance=True, seed=seed,
            **variants[label]))
        steps = np.asarray(result.history["step"])
        v = np.asarray(result.history["grad_variance"])
        g = np.asarray(result.history["grad_norm"])
        ret[label].append(curve(result.episodes, grid))
        var[label].append(curve_of(steps, v, grid, 5))
        finals[label].append(result.episodes.mean_return(20))
        mean_var[label].append(float(np.mean(v)))
        snr[label].append(float(np.mean(g ** 2 / np.maximum(v, 1e-12))))
    summary: dict[str, float] = {}
    for label in variants:
        key = (label.replace("GAE λ=", "gae_lambda").replace(" ", "_"))
        summary[f"{key}.final_return"] = float(np.mean(finals[label]))
        summary[f"{key}.grad_variance"] = float(np.mean(mean_var[label]))
        summary[f"{key}.grad_snr"] = float(np.mean(snr[label]))
        curve_mean = nanmean(np.asarray(var[label]), axis=0)
        for i, step in enumerate(grid):
            if np.isfinite(curve_mean[i]):
                tracker.log({f"variance/{key}/grad_variance": float(curve_mean[i])}, step=int(step))
    tracker.log_table("variance/summary", ["estimator", "grad_variance_mean", "grad_snr_mean",
                                           "final_return_mean"],
                      [[k, round(float(np.mean(mean_var[k])), 3), round(float(np.mean(snr[k])), 4),
                        round(float(np.mean(finals[k])), 1)] for k in variants])
    tracker.log_table("variance/final_return", ["estimator", "mean", "ci95", "per_seed"],
                      table_rows(finals))
    fig = band_figure({config.env_id: {k: (grid, np.asarray(v)) for k, v in var.items()}},
                      "tr Cov of the batch gradient", logy=True)
    tracker.log_figure(
        "variance/grad_variance", fig,
        "Measured variance of REINFORCE's policy-gradient estimate (trace of the covariance of "
        f"the {config.episodes_per_batch}-episode batch mean, from per-episode gradients) along "
        "each estimator's own training run; mean over seeds with 95% t-intervals, log scale.")
    fig = band_figure({config.env_id: {k: (grid, np.asarray(v)) for k, v in ret.items()}},
                      "return (20-episode moving average)")
    tracker.log_figure(
        "variance/episodic_return", fig,
        f"REINFORCE on {config.env_id} with Ψ_t = G_t, G_t − V(s_t) and GAE(λ) for λ in "
        f"{config.lambdas}: return against environment steps, mean over {config.n_seeds} seeds "
        "with 95% t-intervals.")
    return summary


# ----------------------------------------------------------------------------- off-policy

class OffPolicyConfig(ExperimentConfig):
    n_states: int = 6
    n_actions: int = 3
    gamma: float = 0.9
    horizons: tuple[int, ...] = (1, 2, 5, 10, 20)  # n of the n-step targets
    rho_bars: tuple[float, ...] = (0.5, 1.0, 2.0)  # V-trace truncation levels (c̄ = min(ρ̄, 1))
    samples: int = 4000  # trajectories per start state
    policy_gap: float = 2.0  # logit scale of π against a uniform μ: bigger = more off-policy
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"samples": 200, "horizons": (1, 5)}, "gpu": {"samples": 50_000}}


@experiment(week=4, name="off-policy-corrections", covers=(), config=OffPolicyConfig, units=UNITS)
def off_policy_corrections(config: OffPolicyConfig, tracker: Tracker) -> dict[str, float]:
    """Bias and variance of no correction, importance sampling and V-trace, against exact values."""
    import numpy as np
    import torch

    from algorithms.plotting import figure
    from algorithms.policy.core import vtrace

    rng = np.random.default_rng(config.seed)
    S, A, gamma = config.n_states, config.n_actions, config.gamma
    P = rng.dirichlet(np.ones(S), size=(S, A))  # P[s, a, s']
    R = rng.normal(size=(S, A))
    mu = np.full((S, A), 1.0 / A)
    logits = config.policy_gap * rng.normal(size=(S, A))
    pi = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)

    def value(policy: np.ndarray) -> np.ndarray:  # V = (I − γ P_π)^{-1} r_π
        P_pi = np.einsum("sa,sat->st", policy, P)
        return np.linalg.solve(np.eye(S) - gamma * P_pi, (policy * R).sum(1))

    v_pi, v_mu = value(pi), value(mu)

    def fixed_point(rho_bar: float) -> np.ndarray:  # Espeholt Thm 1: π_ρ̄ ∝ min(ρ̄ μ, π)
        p = np.minimum(rho_bar * mu, pi)
        return value(p / p.sum(1, keepdims=True))

    estimators = {"no correction": None, "IS (ρ̄=c̄=∞)": (np.inf, np.inf)}
    estimators |= {f"V-trace ρ̄={r:g}": (r, min(r, 1.0)) for r in config.rho_bars}
    # trajectories from μ, `samples` per start state, long enough for the longest horizon
    H = max(config.horizons)
    M = S * config.samples
    states = np.zeros((H + 1, M), dtype=int)
    actions = np.zeros((H, M), dtype=int)
    rewards = np.zeros((H, M))
    states[0] = np.repeat(np.arange(S), config.samples)
    cum_P = P.cumsum(-1)
    for t in range(H):
        actions[t] = (rng.random(M)[:, None] > mu[states[t]].cumsum(1)).sum(1)
        rewards[t] = R[states[t], actions[t]]
        u = rng.random(M)[:, None]
        states[t + 1] = np.minimum((u > cum_P[states[t], actions[t]]).sum(1), S - 1)

    rows, summary = [], {}
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for name, truncation in estimators.items():
        if truncation is None:  # act as if μ were π: ρ = c = 1, converges to V^μ
            target = v_mu
        else:
            target = fixed_point(truncation[0]) if np.isfinite(truncation[0]) else v_pi
        for n in config.horizons:
            mu_logp = torch.as_tensor(np.log(mu[states[:n], actions[:n]]))
            pi_logp = (mu_logp if truncation is None
                       else torch.as_tensor(np.log(pi[states[:n], actions[:n]])))
            rho_bar, c_bar = truncation or (1.0, 1.0)
            # bootstrap with the estimator's own fixed point, so that what remains is its noise
            vs, _ = vtrace(mu_logp, pi_logp, torch.as_tensor(rewards[:n]),
                           torch.as_tensor(target[states[:n]]), torch.zeros(n, M),
                           torch.as_tensor(target[states[n]]), gamma, rho_bar, c_bar)
            v0 = vs[0].numpy().reshape(S, config.samples)
            variance = float(v0.var(axis=1).mean())
            bias = float(np.abs(v0.mean(axis=1) - v_pi).max())  # against the true V^π
            curves.setdefault(name, []).append((n, variance, bias))
            key = (name.replace("V-trace ρ̄=", "vtrace_rho").replace("IS (ρ̄=c̄=∞)", "is")
                   .replace("no correction", "none"))
            tracker.log({f"offpolicy/{key}/variance": variance, f"offpolicy/{key}/bias": bias},
                        step=n)
            rows.append([name, n, round(bias, 4), round(variance, 4)])
        fixed_bias = float(np.abs(target - v_pi).max())
        key = (name.replace("V-trace ρ̄=", "vtrace_rho").replace("IS (ρ̄=c̄=∞)", "is")
               .replace("no correction", "none"))
        summary[f"{key}.fixed_point_bias"] = fixed_bias
        summary[f"{key}.variance_n{max(config.horizons)}"] = curves[name][-1][1]
    tracker.log_table("offpolicy/bias_variance", ["estimator", "n", "max_abs_bias_vs_v_pi",
                                                  "mean_variance"], rows)
    fig, (left, right) = figure(1, 2)
    for name, pts in curves.items():
        ns, variances, biases = zip(*pts)
        left.plot(ns, variances, marker="o", label=name)
        right.plot(ns, biases, marker="o", label=name)
    left.set(xlabel="n (steps of μ-data per target)", ylabel="variance of v_s", yscale="log",
             title="variance")
    right.set(xlabel="n (steps of μ-data per target)", ylabel="max_s |E[v_s] − V^π(s)|",
              title="bias against V^π")
    right.legend(fontsize=7)
    tracker.log_figure(
        "offpolicy/bias_variance", fig,
        f"Off-policy n-step value targets on a random {S}-state, {A}-action MDP (γ = {gamma}) "
        f"from a uniform behaviour policy μ for a peaked target π: variance (left, log) and bias "
        f"against the exact V^π (right) of the uncorrected return, per-decision importance "
        f"sampling and V-trace with truncation ρ̄ (c̄ = min(ρ̄, 1)); {config.samples} "
        "trajectories per start state.")
    summary["v_pi_minus_v_mu"] = float(np.abs(v_pi - v_mu).max())
    return summary


# ----------------------------------------------------------------------------- IMPALA

class ImpalaStudyConfig(ExperimentConfig):
    env_id: str = "CartPole-v1"
    total_timesteps: int = 150_000
    n_actors: int = 2
    queue_size: int = 8
    # policy lag: actors refresh their weights every k unrolls; k = 1 is IMPALA's usual small
    # lag, a large k makes the behaviour policy μ trail π by many learner updates
    sync_every: tuple[int, ...] = (1, 128)
    n_seeds: int = 3
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"total_timesteps": 640, "queue_size": 2, "sync_every": (4,), "n_seeds": 1},
        "gpu": {"total_timesteps": 1_000_000, "n_actors": 8, "sync_every": (1, 8, 32, 128),
                "n_seeds": 5}}


@experiment(week=4, name="impala-vtrace", covers=(), config=ImpalaStudyConfig, units=UNITS)
def impala_vtrace(config: ImpalaStudyConfig, tracker: Tracker) -> dict[str, float]:
    """IMPALA actor–learner (actor processes) with and without V-trace, at two policy lags."""
    import numpy as np

    from algorithms.policy import impala
    from algorithms.harness import curve, curve_of, table_rows
    from algorithms.plotting import band_figure

    labels = {"vtrace": "V-trace", "none": "no correction"}
    grid = np.linspace(0, config.total_timesteps, 60)
    curves: dict[int, dict[str, list]] = {k: {c: [] for c in labels} for k in config.sync_every}
    lag_curves: dict[int, dict[str, list]] = {k: {c: [] for c in labels}
                                              for k in config.sync_every}
    finals: dict[str, list[float]] = {}
    lags: dict[str, list[float]] = {}
    jobs = [(k, c, s) for k in config.sync_every for c in labels
            for s in range(config.seed, config.seed + config.n_seeds)]
    for sync, correction, seed in tracker.track(jobs, total=len(jobs), description="IMPALA"):
        cfg = impala.ImpalaConfig(env_id=config.env_id, total_timesteps=config.total_timesteps,
                                  n_actors=config.n_actors, queue_size=config.queue_size,
                                  sync_every=sync, correction=correction, seed=seed)
        result = impala.train(cfg)
        name = f"{labels[correction]}, sync every {sync}"
        curves[sync][correction].append(curve(result.episodes, grid))
        lag_curves[sync][correction].append(curve_of(
            np.asarray(result.history["step"]), np.asarray(result.history["policy_lag_kl"]),
            grid, 10))
        finals.setdefault(name, []).append(result.episodes.mean_return(20))
        lags.setdefault(name, []).append(float(np.mean(result.history["policy_lag_kl"])))
    summary: dict[str, float] = {}
    for sync, by_correction in curves.items():
        for correction, cs in by_correction.items():
            name = f"{labels[correction]}, sync every {sync}"
            mean = np.nanmean(np.asarray(cs), axis=0)
            for i, step in enumerate(grid):
                if np.isfinite(mean[i]):
                    tracker.log({f"impala/sync{sync}/{correction}/episodic_return": float(mean[i])},
                                step=int(step))
            summary[f"sync{sync}.{correction}.final_return"] = float(np.mean(finals[name]))
            summary[f"sync{sync}.{correction}.policy_lag_kl"] = float(np.mean(lags[name]))
    tracker.log_table("impala/final_return", ["run", "mean", "ci95", "per_seed"],
                      table_rows(finals))
    fig = band_figure({f"μ refreshed every {k} unroll{'s' if k > 1 else ''}":
                       {labels[c]: (grid, np.asarray(cs)) for c, cs in by.items()}
                       for k, by in curves.items()}, "return (20-episode moving average)")
    tracker.log_figure(
        "impala/episodic_return", fig,
        f"IMPALA on {config.env_id}: {config.n_actors} actor processes feeding a learner through "
        f"a queue of {config.queue_size} trajectories, with the V-trace correction (ρ̄ = c̄ = 1) "
        f"and without it (ρ = c = 1); one panel per policy lag (actors refresh their weights "
        f"every k unrolls); mean over {config.n_seeds} seeds with 95% t-intervals.")
    fig = band_figure({f"μ refreshed every {k} unroll{'s' if k > 1 else ''}":
                       {labels[c]: (grid, np.asarray(cs)) for c, cs in by.items()}
                       for k, by in lag_curves.items()}, "KL(μ ‖ π) per learner batch (k3)",
                      logy=True)
    tracker.log_figure(
        "impala/policy_lag_kl", fig,
        "How off-policy the learner's data is: the approximate KL between the actors' behaviour "
        "policy μ and the learner's π on each batch, against environment steps, per policy lag; "
        f"mean over {config.n_seeds} seeds with 95% t-intervals, log scale.")
    return summary
