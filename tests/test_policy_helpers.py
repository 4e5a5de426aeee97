"""The checks every week 4/6/7 experiment owes the runner, and the seed-study harness."""

import math

import numpy as np
import pytest


def check_run(summary, tracker):
    """What every policy experiment owes the runner: flat float summaries, captioned figures,
    ``section/name`` keys (CleanRL's ``charts/SPS`` is the one upper-case name), finite logs, a
    named x-axis on every logged step, no key both a table and a figure."""
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert all(math.isfinite(v) for v in summary.values()), summary
    assert tracker.figures and all(len(caption) > 40 for caption in tracker.figures.values())
    assert not set(tracker.figures) & set(tracker.tables)
    for key in [*tracker.figures, *tracker.tables, *(k for _, m in tracker.logs for k in m)]:
        section, _, rest = key.partition("/")
        assert section and rest and " " not in key, key
        assert key == key.lower() or key.endswith("/SPS"), key
    for step, metrics in tracker.logs:
        assert step is not None and all(isinstance(v, float) for v in metrics.values())
    assert "step" not in set(tracker.axes.values()), tracker.axes
    assert 0 < len(tracker.logs) < 2000


def test_mean_ci_uses_the_t_interval():
    from algorithms.harness import mean_ci

    curves = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    mean, half = mean_ci(curves)
    assert mean.tolist() == [3.0, 2.0]
    assert half[0] == pytest.approx(4.303 * 2.0 / math.sqrt(3))
    assert half[1] == 0.0


def test_moving_average_curve_on_a_grid():
    from algorithms.harness import curve_of

    steps, values = np.array([10, 20, 30]), np.array([1.0, 2.0, 6.0])
    got = curve_of(steps, values, np.array([5, 10, 25, 30]), window=2)
    assert np.isnan(got[0]) and got[1:].tolist() == [1.0, 1.5, 4.0]


class _Tracker:
    def __init__(self):
        self.logs, self.tracked = [], []

    def log(self, metrics, step=None, x="step"):
        self.logs.append((step, x, dict(metrics)))

    def track(self, iterable, total=None, description=""):
        self.tracked.append((total, description))
        yield from iterable


def test_seed_study_runs_every_method_on_every_seed_and_logs_mean_curves():
    from algorithms.harness import Measurement, Method, run_seed_study

    calls = []

    def fake(scale):  # a "training run": records (method, seed), returns a number
        def run(seed):
            calls.append((scale, seed))
            return scale * (seed + 1)
        return run

    def measure(result, grid):  # NaN at the first grid step, as before any episode ends
        return Measurement(curves={"return": np.where(grid > 0, result * grid, np.nan)},
                           scalars={"final": float(result)},
                           samples={"kl": np.array([result, -result])})

    methods = [Method("slow", "slow", fake(1.0)),
               Method("env/fast", "fast", fake(10.0), panel="env")]
    tracker = _Tracker()
    grid = np.array([0.0, 1.0, 2.0])
    study = run_seed_study(tracker, methods, seeds=range(3), measure=measure, grid=grid,
                           prefix="demo", description="fake study")
    assert calls == [(1.0, 0), (1.0, 1), (1.0, 2), (10.0, 0), (10.0, 1), (10.0, 2)]
    assert tracker.tracked == [(6, "fake study")]
    # mean over seeds of result·grid, at each grid step where it is defined, against env steps
    assert tracker.logs == [(1, "env_step", {"demo/slow/return": 2.0}),
                            (2, "env_step", {"demo/slow/return": 4.0}),
                            (1, "env_step", {"demo/env/fast/return": 20.0}),
                            (2, "env_step", {"demo/env/fast/return": 40.0})]
    assert study.curves("slow", "return").shape == (3, 3)
    assert study.scalars("env/fast", "final").tolist() == [10.0, 20.0, 30.0]
    assert study.pooled("slow", "kl").tolist() == [1.0, -1.0, 2.0, -2.0, 3.0, -3.0]
    assert study.summary("final") == {"slow.final": 2.0, "env.fast.final": 20.0}
    assert study.summary("final", np.max, as_name="best") == {"slow.best": 3.0,
                                                              "env.fast.best": 30.0}
    rows = study.table("final")
    assert [row[0] for row in rows] == ["slow", "fast (env)"]
    assert rows[0][1:] == [2.0, round(4.303 / math.sqrt(3), 2), "1.0 2.0 3.0"]
    panels = study.bands("return", title="all")
    assert list(panels) == ["all", "env"] and list(panels["env"]) == ["fast"]
    assert panels["all"]["slow"][1].shape == (3, 3)


def test_seed_study_method_keys_are_one_spelling():
    from algorithms.harness import Method, run_seed_study

    with pytest.raises(ValueError, match="lower-case"):
        Method("CartPole PPO", "PPO", lambda seed: seed)
    twice = [Method("ppo", "PPO", lambda seed: seed), Method("ppo", "PPO 2", lambda seed: seed)]
    with pytest.raises(ValueError, match="unique"):
        run_seed_study(_Tracker(), twice, [0], lambda r, g: None, np.zeros(1), "x")
    assert Method("cartpole/ppo", "PPO", lambda seed: seed).summary_key("final_return") == \
        "cartpole.ppo.final_return"


def test_importing_weeks_4_6_7_loads_neither_torch_nor_gymnasium_nor_matplotlib():
    import subprocess
    import sys

    code = ("import sys, algorithms.weeks.week04, algorithms.weeks.week06, "
            "algorithms.weeks.week07; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'gymnasium', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
