"""The post frame (issue 12, point 5): the "What to know" box and the excerpt break on top, a
title per edition, numbered and captioned tables and figures, the "Reproduce" box at the end,
and figures legible at the width a post shows them."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from forge_cli import posts
from forge_cli.config import load_settings
from forge_cli.draft_context import build_context
from forge_cli.drafting import fill, write_post
from forge_cli.post_frame import frame_body, seeds_text, stable_body
from forge_cli.store import RunRecord, RunStore, now_iso

REPO = Path(__file__).resolve().parents[1]
NOTES = """\
---
headline_facts:
  - pi-vs-vi.gridworld.vi.sweeps: sweeps value iteration needs on the gridworld
  - pi-vs-vi.gridworld.pi.sweeps: sweeps policy iteration needs on the gridworld
headline_tables: [pi-vs-vi/results/values]
headline_figures: []
---

# Week 1

## Key ideas

Value iteration and policy iteration.
"""
BODY = """\
Value iteration needs {{ fact:pi-vs-vi.gridworld.vi.sweeps }}; Table 1 lists the values.

{{ table:pi-vs-vi/results/values }}

Figure 1 shows the values as an image.

{{ figure:pi-vs-vi/results/values_plot }}

{{ table:pi-vs-vi/results/values }}
"""


@pytest.fixture
def week1(project):
    """Week 1 with two seeds of one (seeded) experiment, a table and a figure per run."""
    (project / "notes").mkdir()
    (project / "notes" / "week01.md").write_text(NOTES)
    shutil.copytree(REPO / "blog", project / "blog",
                    ignore=shutil.ignore_patterns("site", ".cache", "posts"))
    png = project / "plot.png"
    _save_png(png)
    for seed in (0, 1):
        writer = RunStore(project / "runs").writer()
        writer.write_table("results/values", ["state", "value"], [["s0", 1.5], ["s1", 2.5]])
        shutil.copyfile(png, writer.figure_file("results/values_plot", "State values [0, 1] & more"))
        writer.finish(RunRecord(
            id=writer.run_id, week=1, experiment="pi-vs-vi", seed=seed, profile="cpu",
            started_at=now_iso(), finished_at=now_iso(), duration_s=0.1, config={"gamma": 0.9},
            summary={"gridworld.vi.sweeps": 7.0 + seed, "gridworld.pi.sweeps": 3.0}))
    return project


def _save_png(path: Path) -> None:
    from algorithms.plotting import figure

    fig, ax = figure()
    ax.plot([0, 1], [1, 2])
    fig.savefig(path)


def drafted(edition: str = "scientist", body: str = BODY) -> tuple[dict, str, object]:
    settings = load_settings()
    context = build_context(settings, 1, 1, edition)
    text, used, unknown = fill(body, context)
    assert unknown == []
    provenance = {"run_ids": context.run_ids, "profile": context.profile,
                  "git_sha": "0123456789abcdef0123456789abcdef01234567", "git_dirty": False}
    result = write_post(settings, context, text, provenance)
    meta, written = posts.split_front_matter(result.path.read_text())
    return meta, written, result


def test_the_box_and_the_excerpt_break_open_the_post(week1):
    _, body, _ = drafted()
    lines = body.strip().splitlines()
    assert lines[0] == '!!! abstract "What to know"'
    box = body[:body.index(posts.EXCERPT_BREAK)]
    assert "    - **sweeps value iteration needs on the gridworld:** 7.5 ± 0.7071" in box
    assert "sweeps policy iteration needs on the gridworld" in box
    assert body.count(posts.EXCERPT_BREAK) == 1
    assert body.index(posts.EXCERPT_BREAK) < body.index("Value iteration needs")


def test_an_offline_drafts_note_stays_first_and_a_bodys_own_break_is_dropped(week1):
    banner = posts.OFFLINE_BANNER + "\n    forge assembled this post.\n\nProse.\n<!-- more -->\n"
    _, body, _ = drafted(body=banner)
    lines = body.splitlines()
    assert lines[0] == posts.OFFLINE_BANNER and lines[1] == "    forge assembled this post."
    assert body.index('"What to know"') < body.index(posts.EXCERPT_BREAK) < body.index("Prose.")
    assert body.count(posts.EXCERPT_BREAK) == 1


def test_each_edition_has_its_own_title(week1):
    scientist, _, _ = drafted("scientist")
    manager, _, _ = drafted("manager")
    assert scientist["title"] == "Decision Making 101: How AI Learns to Choose"
    assert manager["title"] == scientist["title"] + " (manager edition)"
    assert posts.edition_title("T", "manager") != posts.edition_title("T", "scientist")


def test_tables_and_figures_are_numbered_and_captioned(week1):
    _, body, _ = drafted()
    # The same table inserted twice keeps its number; tables and figures are numbered apart.
    assert body.count("**Table 1:** Values (deterministic, one run)") == 2  # pi-vs-vi is DP
    assert '<div class="forge-table" markdown>\n\n**Table 1:**' in body
    assert "| state | value |" in body
    assert '<figure class="forge-figure" markdown="span">' in body
    assert "<figcaption>Figure 1: State values [0, 1] &amp; more</figcaption>" in body
    # The alt text (the lightbox's caption) has no brackets that would end the image link early.
    image = next(line for line in body.splitlines() if line.startswith("!["))
    assert image.startswith("![Figure 1: State values (0, 1) & more](figures/week01/")
    (target,) = posts.local_targets(image)
    assert target.startswith("figures/week01/") and target.endswith(".png")


def test_the_reproduce_box_names_the_command_runs_and_sha(week1):
    _, body, _ = drafted()
    reproduce = body[body.index('!!! info "Reproduce"'):]
    assert body.rstrip().endswith(reproduce.rstrip())  # the last thing in the post
    assert "git checkout 0123456789abcdef0123456789abcdef01234567" in reproduce
    # pi-vs-vi is deterministic (seed 0 whatever --seeds says), and the week has more experiments
    assert "forge run week1 --profile cpu --seeds 0 --only pi-vs-vi\n" in reproduce
    assert "forge draft week1 --post 1 --edition scientist --profile cpu" in reproduce
    context = build_context(load_settings(), 1, 1, "scientist")
    assert all(f"`{run}`" in reproduce for run in context.run_ids) and len(context.run_ids) == 2


def test_a_new_commit_alone_does_not_make_a_new_draft(week1):
    _, _, first = drafted()
    assert first.action == "created"
    settings = load_settings()
    context = build_context(settings, 1, 1, "scientist")
    text, _, _ = fill(BODY, context)
    provenance = {"run_ids": context.run_ids, "profile": "cpu", "git_sha": "f" * 40,
                  "git_dirty": True}
    assert write_post(settings, context, text, provenance).action == "unchanged"
    assert stable_body("    git checkout abcdef1  # note\n") == "    git checkout\n"


def test_framing_is_deterministic(week1):
    settings = load_settings()
    context = build_context(settings, 1, 1, "manager")
    provenance = {"git_sha": None, "git_dirty": False}
    once = frame_body(settings, context, "Body.\n", provenance)
    assert once == frame_body(settings, context, "Body.\n", provenance)
    assert "not under git" in once and "git checkout" not in once


def test_a_tables_caption_says_how_its_numbers_were_made(week1, monkeypatch):
    from types import SimpleNamespace

    from forge_cli import post_frame
    from forge_cli.draft_context import TableRef

    context = build_context(load_settings(), 1, 1, "scientist")
    seeded = {"pi-vs-vi": SimpleNamespace(seeded=True, unit=lambda m: "ms" if "wall" in m else "")}
    monkeypatch.setattr(post_frame, "experiments_for", lambda week: seeded)
    one_seed = TableRef(key="pi-vs-vi/results/values", columns=["state", "value"], rows=[],
                        run_id=context.run_ids[0])
    assert post_frame.table_provenance(one_seed, context) == "one run, the first of 2 seeds"
    study = TableRef(key="pi-vs-vi/compare/final", columns=["method", "mean", "ci95", "per_seed"],
                     rows=[["ppo", 1.0, 0.1, "1.0 0.9 1.1"]], run_id=context.run_ids[0])
    assert post_frame.table_provenance(study, context) == \
        "mean and 95% confidence half-width over 3 seeds"
    timed = TableRef(key="pi-vs-vi/x/y", columns=["env", "wall"], rows=[["a", 1.5]], run_id="r")
    block = post_frame.table_block(timed, 4, context)
    assert "**Table 4:** Y (one run, the first of 2 seeds)" in block
    assert "| env | wall (ms) |" in block


def test_seeds_are_written_as_the_runner_reads_them():
    from forge_cli.runner import parse_seeds

    for seeds in ([0], [0, 1], [0, 1, 2, 3], [1, 4, 5]):
        assert parse_seeds(seeds_text(seeds)) == seeds
    assert seeds_text([0, 1, 2, 3, 4]) == "0-4"


# ---- figures legible at the width a post shows them ------------------------------------------

def _png_width(path: Path) -> int:
    return struct.unpack(">II", path.read_bytes()[16:24])[0]


def _tick_px(fig, path: Path) -> float:
    """The smallest tick label's height in px once the saved image is shown 690 px wide."""
    from algorithms.plotting import POST_WIDTH_PX

    fig.savefig(path)
    sizes = [label.get_fontsize() for ax in fig.axes if ax.get_visible()
             for label in ax.get_xticklabels() + ax.get_yticklabels()]
    return min(sizes) * fig.dpi / 72 * POST_WIDTH_PX / _png_width(path)


def test_band_figures_wrap_into_rows_and_stay_legible(tmp_path):
    import numpy as np

    from algorithms.plotting import band_figure, panel_grid

    grid = np.arange(10)
    curves = np.vstack([grid * 1.0, grid * 1.1, grid * 0.9])
    panels = {f"env {i}": {"ppo": (grid, curves), "a2c": (grid, curves / 2)} for i in range(6)}
    fig = band_figure(panels, "return", hlines={"target": 5.0})
    assert panel_grid(6) == (2, 3) and panel_grid(4) == (2, 3) and panel_grid(2) == (1, 2)
    assert sum(ax.get_visible() for ax in fig.axes) == 6
    assert _tick_px(fig, tmp_path / "band.png") >= 9


@pytest.mark.parametrize("ncols", [1, 2, 3])
def test_default_panels_have_tick_labels_of_9_px_at_post_width(tmp_path, ncols):
    from algorithms.plotting import figure

    fig, axes = figure(1, ncols, squeeze=False)
    for ax in axes.flat:
        ax.plot([0, 1000, 2000], [0.1, 0.5, 0.9])
        ax.set(xlabel="environment steps", ylabel="return", title="CartPole-v1")
    assert _tick_px(fig, tmp_path / "panels.png") >= 9
