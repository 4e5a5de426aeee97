"""The recording tracker the week 4/6/7 experiment tests share, and the study helpers' checks."""

import math

import numpy as np
import pytest


def check_run(summary, tracker):
    """What every policy experiment owes the runner: flat float summaries, captioned figures,
    ``section/name`` keys (CleanRL's ``charts/SPS`` is the one upper-case name), finite logs."""
    assert summary and all(isinstance(v, float) for v in summary.values())
    assert all(math.isfinite(v) for v in summary.values()), summary
    assert tracker.figures and all(len(caption) > 40 for caption in tracker.figures.values())
    for key in [*tracker.figures, *tracker.tables, *(k for _, m in tracker.logs for k in m)]:
        section, _, rest = key.partition("/")
        assert section and rest and " " not in key, key
        assert key == key.lower() or key.endswith("/SPS"), key
    for step, metrics in tracker.logs:
        assert step is not None and all(isinstance(v, float) for v in metrics.values())
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


def test_importing_weeks_4_6_7_loads_neither_torch_nor_gymnasium_nor_matplotlib():
    import subprocess
    import sys

    code = ("import sys, algorithms.weeks.week04, algorithms.weeks.week06, "
            "algorithms.weeks.week07; "
            "print(any(m in sys.modules for m in ('matplotlib', 'torch', 'gymnasium', 'wandb')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
