"""``approximation``: how far Performer and Linformer are from exact softmax attention.

On random Gaussian q, k, v (float64), scaled so that the logits qᵀk/√d have each standard
deviation in ``logit_stds``, exact attention O = softmax(QKᵀ/√d)V is compared with Performer
(FAVOR+, ``draws`` draws of m orthogonal positive random features for each m in ``features``)
and Linformer with the parameter-free mean-pooling projection (each rank k in ``ranks``). Two
errors per point: the relative Frobenius error of the output, ‖Ô − O‖_F / ‖O‖_F, and the
total-variation distance between each query's exact and approximate attention distribution,
½ Σ_j |Â_ij − A_ij| (the fraction of attention mass misplaced), averaged over queries.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algorithms.experiment import ExperimentConfig, Tracker, experiment


class ApproximationConfig(ExperimentConfig):
    seq_len: int = 512
    head_dim: int = 64
    heads: int = 4
    logit_stds: tuple[float, ...] = (0.25, 0.5, 1.0)
    """Standard deviations of the logits qᵀk/√d of the random inputs."""
    features: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    """Performer's numbers of random features m."""
    ranks: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
    """Linformer's projected lengths k."""
    draws: int = 6
    """Random-feature draws averaged per Performer point."""
    threads: int = 1
    """Intra-op threads (0: PyTorch's default); see ``intra_op_threads``."""
    profiles: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"seq_len": 64, "head_dim": 16, "heads": 2, "features": (8, 64, 512),
                  "ranks": (8, 32, 64), "draws": 4},
        "gpu": {"seq_len": 2048, "features": (16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
                "ranks": (16, 32, 64, 128, 256, 512, 1024, 2048), "draws": 16, "threads": 0},
    }


def std_tag(value: float) -> str:
    """The summary-key form of a logit standard deviation: 0.25 -> ``logit_std_0_25``."""
    return "logit_std_" + f"{value:g}".replace(".", "_")


@experiment(week=3, name="approximation", covers=(1,), config=ApproximationConfig,
            units={"*.rel_error": ""})
def approximation(config: ApproximationConfig, tracker: Tracker) -> dict[str, float]:
    """Performer and Linformer error against exact attention as features / rank grow."""
    import numpy as np
    import torch

    from algorithms.attention.dot_product import scaled_dot_product_attention
    from algorithms.attention.linear import LinformerAttention, PerformerAttention
    from algorithms.attention.profiling import intra_op_threads
    from algorithms.weeks.week03 import figures

    with intra_op_threads(config.threads), torch.no_grad():
        generator = torch.Generator().manual_seed(config.seed)
        shape = (config.heads, config.seq_len, config.head_dim)
        base = [torch.randn(*shape, generator=generator, dtype=torch.float64) for _ in range(3)]
        # method -> logit std -> size -> (relative output error, mean TV distance) per draw
        errors: dict[str, dict[float, dict[int, list[tuple[float, float]]]]] = {
            "performer": {}, "linformer_pool": {}}
        for std in tracker.track(config.logit_stds, total=len(config.logit_stds),
                                 description="approximation"):
            # q, k ~ N(0, σ² I) gives logits qᵀk/√d with standard deviation σ²
            q, k, v = base[0] * std ** 0.5, base[1] * std ** 0.5, base[2]
            exact, weights = scaled_dot_product_attention(q, k, v, return_weights=True)

            def score(module: Any) -> tuple[float, float]:
                output_error = (module(q, k, v) - exact).norm() / exact.norm()
                # half the L1 distance between each query's two distributions, mean over queries
                tv = 0.5 * (module.attention_matrix(q, k) - weights).abs().sum(-1).mean()
                return float(output_error), float(tv)

            errors["performer"][std] = {
                m: [score(PerformerAttention(config.head_dim, m,
                                             seed=1000 * config.seed + draw).double())
                    for draw in range(config.draws)] for m in config.features}
            errors["linformer_pool"][std] = {
                rank: [score(LinformerAttention(config.seq_len, rank, projection="pool"))]
                for rank in config.ranks}

        summary, rows = {}, []
        for method, per_std in errors.items():
            size_kind, tag = ("features m", "m") if method == "performer" else ("rank k", "k")
            for std, per_size in per_std.items():
                for size, draws in per_size.items():
                    out_err, tv = np.array(draws).T
                    spread = float(out_err.std(ddof=1)) if len(draws) > 1 else 0.0
                    rows.append([method, std, size_kind, size, round(float(out_err.mean()), 5),
                                 round(spread, 5), round(float(tv.mean()), 5), len(draws)])
                    prefix = f"approximation.{method}.{std_tag(std)}.{tag}{size}"
                    summary[f"{prefix}.rel_error"] = float(out_err.mean())
                    summary[f"{prefix}.tv_distance"] = float(tv.mean())
        tracker.log_table("approximation/errors",
                          ["method", "logit_std", "size_kind", "size", "mean_rel_output_error",
                           "std_over_draws", "mean_tv_distance", "draws"], rows)
        tracker.log_figure("approximation/error_vs_size",
                           *figures.approximation_error_vs_size(errors, config))
    return summary
