"""``moe-routing``: a dense LLaMA against mixtures of experts at equal *active* parameters, and
what the router does: load per expert, dropped tokens, entropy, over training and seeds.

Switch Transformer (Fedus et al. 2021): each token goes to its top-1 expert, each expert takes
at most capacity = capacity factor × tokens / experts, the rest are dropped (the residual
stream carries them past the layer), and the auxiliary loss α · N · Σ_i f_i P_i (α = 0.01)
pushes the router towards equal load; top-2 follows GShard (Lepikhin et al. 2020). The MoE
models have 4 × the feed-forward parameters of the dense one but the same per-token compute:
top-1 experts are as wide as the dense FFN, top-2 experts half as wide. The two studies:

* ``moe/…``: dense, top-1, top-2 and top-1 without the balancing loss (α = 0), 1.25 capacity;
* ``capacity/…``: top-1 at capacity factors 0.5 … 2 and unlimited: dropped share and loss.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import Tracker, experiment
from algorithms.weeks.week05.common import (
    GPU, SMOKE, UNITS, ArchStudyConfig, StudyContext, Variant, at_steps, measure_run, rounded)


def routing_log(model: Any) -> dict[str, float]:
    """``moe/<stat>``: each routing statistic averaged over the MoE layers, and layer 0's load
    per expert (``moe/layer0/load/expert<i>``); an ``on_step`` hook (last forward's routing)."""
    import numpy as np

    layers = [m.stats.to_dict() for m in model.moe_layers()]
    out = {f"moe/{name}": float(np.mean([layer[name] for layer in layers]))
           for name in ("dropped", "router_entropy", "load_cv")}
    out.update({f"moe/layer0/{k}": v for k, v in layers[0].items() if k.startswith("load/")})
    return out


class MoEConfig(ArchStudyConfig):
    """``n_experts`` experts; ``capacity_factors`` the top-1 sweep (None: no limit)."""

    n_experts: int = 4
    capacity_factor: float = 1.25
    capacity_factors: list[float | None] = [0.5, 1.0, 1.25, 2.0, None]
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {**SMOKE, "capacity_factors": [0.5, None]},
        "gpu": {**GPU, "n_experts": 8}}


@experiment(week=5, name="moe-routing", covers=(3,), config=MoEConfig, units=UNITS)
def moe_routing(config: MoEConfig, tracker: Tracker) -> dict[str, float]:
    """Dense vs MoE (top-1, top-2, no balancing loss) over seeds, and the capacity sweep."""
    import numpy as np

    from algorithms.harness import ROW_COLUMNS, mean_ci, run_seed_study
    from algorithms.plotting import band_figure
    from algorithms.weeks.week05.figures import capacity_sweep, expert_load

    context = StudyContext.load(config, tracker)
    hidden = config.lm_config(context.data.vocab_size).hidden_dim
    moe = {"n_experts": config.n_experts, "capacity_factor": config.capacity_factor}
    variants = [
        Variant("dense", "dense SwiGLU"),
        Variant("top1", f"{config.n_experts} experts, top-1", moe),
        Variant("top2", f"{config.n_experts} experts of half width, top-2",
                {**moe, "moe_top_k": 2, "d_ff": hidden // 2}),
        Variant("top1_nobalance", "top-1, no balancing loss", {**moe, "moe_balance_weight": 0.0}),
    ]
    grid = context.grid()
    curves = ("val_loss", "moe/load_cv", "moe/dropped", "moe/router_entropy")

    def measure(result, grid):
        measured = measure_run(result, grid, curves=("val_loss",))
        if any("moe/load_cv" in row for row in result.history):
            for name in curves[1:]:
                measured.curves[name.replace("/", "_")] = at_steps(result.history, name, grid)
            rows = [r for r in result.history if "moe/dropped" in r]
            measured.scalars["dropped_share"] = float(np.mean([r["moe/dropped"] for r in rows]))
            measured.scalars["load_cv"] = float(np.mean([r["moe/load_cv"] for r in rows]))
            measured.scalars["router_entropy"] = rows[-1]["moe/router_entropy"]
            for i in range(config.n_experts):
                name = f"moe/layer0/load/expert{i}"
                measured.scalars[f"load_expert{i}"] = rows[-1][name]
                measured.curves[f"load_expert{i}"] = at_steps(result.history, name, grid)
        return measured

    def method(variant: Variant, prefix: str):
        hook = routing_log if variant.changes.get("n_experts") else None
        return context.method(variant, prefix, on_step=hook)

    study = run_seed_study(tracker, [method(v, "moe") for v in variants], config.seeds,
                           measure, grid, prefix="moe", description="dense vs MoE × seeds",
                           x="train_step")
    rows, summary = [], {}
    for variant in variants:
        losses = study.scalars(variant.key, "val_loss")
        mean, half = mean_ci(losses[:, None])
        scalars = study.runs[variant.key][0].scalars
        routed = "dropped_share" in scalars
        row = [variant.label, context.n_params[variant.key], rounded(float(mean[0])),
               rounded(float(half[0])), " ".join(f"{x:.3f}" for x in losses),
               round(float(np.mean(study.scalars(variant.key, "tokens_per_s"))))]
        for name in ("dropped_share", "load_cv", "router_entropy"):
            value = float(np.mean(study.scalars(variant.key, name))) if routed else None
            row.append(rounded(value, 3) if value is not None else "")
            if value is not None:
                summary[f"{variant.key}.{name}"] = rounded(value, 4)
        rows.append(row)
        summary[f"{variant.key}.val_loss"] = rounded(float(mean[0]))
        summary[f"{variant.key}.n_params"] = context.n_params[variant.key]
        summary[f"{variant.key}.tokens_per_s"] = row[5]
    tracker.log_table("moe/comparison", ["model", "non-embedding params", *ROW_COLUMNS,
                                         "tokens/s", "dropped share", "load CV",
                                         "router entropy (nats)"], rows)
    tracker.log_figure("moe/curves", band_figure({"": study.bands("val_loss")[""]},
                                                 "nats / token", xlabel="optimizer steps"),
                       f"Validation loss of the dense model and the mixtures of experts at "
                       f"equal active parameters, mean and 95% interval over "
                       f"{len(study.seeds)} seeds.")
    routed_keys = [v for v in variants if v.changes.get("n_experts")]
    tracker.log_figure("moe/load_balance", band_figure({
        "load coefficient of variation": {v.label: (grid, study.curves(v.key, "moe_load_cv"))
                                          for v in routed_keys},
        "router entropy (nats)": {v.label: (grid, study.curves(v.key, "moe_router_entropy"))
                                  for v in routed_keys}}, "", xlabel="optimizer steps"),
        "Routing over training, averaged over the layers: the coefficient of variation of the "
        "load per expert (0 = balanced) and the router's entropy (log N = uniform), mean and "
        "95% interval over seeds.")
    tracker.log_figure("moe/expert_load", expert_load({
        v.label: np.stack([study.scalars(v.key, f"load_expert{i}")
                           for i in range(config.n_experts)], axis=1) for v in routed_keys}),
        "Share of layer 0's assignments per expert at the end of training, mean and 95% "
        "interval over seeds; the dotted line is equal load.")

    tracker.log_figure("moe/expert_load_over_training", band_figure({
        v.label: {f"expert {i}": (grid, study.curves(v.key, f"load_expert{i}"))
                  for i in range(config.n_experts)}
        for v in routed_keys if v.key in ("top1", "top1_nobalance")}, "share of assignments",
        xlabel="optimizer steps", hlines={"equal load": 1 / config.n_experts}),
        "Layer 0's share of the assignments per expert over training, top-1 with and without "
        "the balancing loss, mean and 95% interval over seeds.")

    caps = [Variant(_cap_key(cf), f"capacity {cf:g}" if cf else "no limit",
                    {**moe, "capacity_factor": cf}) for cf in config.capacity_factors]
    cap_study = run_seed_study(tracker, [method(v, "capacity") for v in caps], config.seeds,
                               measure, grid, prefix="capacity",
                               description="capacity factors × seeds", x="train_step")
    factors = list(config.capacity_factors)
    dropped = np.stack([cap_study.scalars(v.key, "dropped_share") for v in caps], axis=1)
    losses = np.stack([cap_study.scalars(v.key, "val_loss") for v in caps], axis=1)
    tracker.log_figure("capacity/sweep", capacity_sweep(factors, dropped, losses),
                       "Top-1 routing at each capacity factor: the share of assignments "
                       "dropped (averaged over training) and the final validation loss, mean "
                       "and 95% interval over seeds; 'no limit' never drops.")
    cap_rows = []
    for i, variant in enumerate(caps):
        d_mean, d_half = mean_ci(dropped[:, i:i + 1])
        l_mean, l_half = mean_ci(losses[:, i:i + 1])
        cap_rows.append([variant.label, rounded(float(d_mean[0]), 4),
                         rounded(float(d_half[0]), 4), rounded(float(l_mean[0])),
                         rounded(float(l_half[0]))])
        summary[f"{variant.key}.dropped_share"] = rounded(float(d_mean[0]), 4)
        summary[f"{variant.key}.val_loss"] = rounded(float(l_mean[0]))
    tracker.log_table("capacity/sweep", ["capacity factor", "dropped share", "dropped ci95",
                                         "val loss", "val loss ci95"], cap_rows)
    summary["moe.n_seeds"] = len(study.seeds)
    return {k: v for k, v in summary.items() if v is not None}


def _cap_key(factor: float | None) -> str:
    return "cap_none" if factor is None else "cap" + f"{factor:g}".replace(".", "_")
