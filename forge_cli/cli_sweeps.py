"""Commands for W&B sweeps: ``sweep`` and ``agent``. They parse and print; the work lives in
``forge_cli.sweeps`` and ``forge_cli.sweep_agent``.

Offline, a sweep cannot be created (W&B's server holds it and hands out its trials), but its
config can be checked and read: ``forge sweep --print`` / ``--out FILE`` exit 0 in any mode and
create nothing; a plain ``forge sweep`` or ``forge agent`` exits 2 with one line saying that
sweeps need W&B online, and what runs many runs on one machine instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forge_cli import cli_common as ui
from forge_cli.cli_common import WeekArg, app, resolve_week, settings
from forge_cli.errors import BadInput, ForgeError


def _local_alternative(week: str, experiment: str, profile: str) -> str:
    return (f"for many runs on this machine: `forge run {week} --only {experiment} "
            f"--profile {profile} --seeds 0-3 --jobs 2`")


@app.command()
def sweep(
    week: WeekArg,
    only: Annotated[str | None, typer.Option(
        help="the experiment to sweep: one that declares a search space",
        show_default=False)] = None,
    profile: Annotated[str, typer.Option(
        help="smoke | cpu | gpu: the profile every trial runs")] = "cpu",
    method: Annotated[str, typer.Option(
        help="random | bayes | grid (grid: discrete values only)")] = "random",
    count: Annotated[int | None, typer.Option(
        help="the most trials the sweep runs, across all agents (W&B's run_cap)",
        show_default=False)] = None,
    show: Annotated[bool, typer.Option(
        "--print",
        help="print the checked sweep config (YAML) instead of creating the sweep")] = False,
    out: Annotated[Path | None, typer.Option(
        help="write the checked sweep config to FILE (YAML; JSON for .json) instead of "
             "creating the sweep", show_default=False)] = None,
) -> None:
    """Create a W&B sweep over an experiment's search space (needs W&B online)."""
    from forge_cli.sweeps import (build_sweep_config, check_out_path, create_sweep,
                                  sweep_config_text, sweep_experiment, why_no_sweeps,
                                  write_sweep_config)

    number = resolve_week(week)
    cfg = settings()
    experiment = sweep_experiment(number, only)
    config = build_sweep_config(experiment, profile, method, count)  # checked: W&B's format
    if out is not None:
        check_out_path(out)
    reason = why_no_sweeps(cfg, "creating a sweep")
    local = _local_alternative(f"week{number}", experiment.name, profile)
    if show or out is not None:
        if out is not None:
            write_sweep_config(config, out)
            ui.console.print(f"wrote the sweep config of week {number} {experiment.name} "
                             f"({profile}) to {out}", highlight=False, soft_wrap=True)
        else:  # stdout holds the YAML alone, so it can be redirected to a file
            ui.console.out(sweep_config_text(config), end="", highlight=False)
        if reason is not None:
            from rich.markup import escape

            ui.errors.print(f"[yellow]note:[/] not created: {escape(reason)}; {escape(local)}",
                            highlight=False, soft_wrap=True)
        return
    if reason is not None:
        raise BadInput(f"{reason}: `--print` shows the sweep config, `--out FILE` writes it; "
                       f"{local}")
    path = create_sweep(config, cfg)
    space = ", ".join(experiment.search_space or {})
    metric, goal = experiment.search_metric or ("", "")
    ui.console.print(f"created sweep {path}: week {number} {experiment.name} ({profile}), "
                     f"{method} search over {space}, {goal} {metric}", highlight=False,
                     soft_wrap=True)
    ui.console.print(f"run its trials on any machine with this repository: forge agent {path} "
                     "[--count N]", highlight=False, soft_wrap=True)


@app.command()
def agent(
    sweep_id: Annotated[str, typer.Argument(
        help="the sweep `forge sweep` created: ID or ENTITY/PROJECT/ID", show_default=False)],
    count: Annotated[int | None, typer.Option(
        help="run at most N trials here (default: until the sweep has none left)",
        show_default=False)] = None,
) -> None:
    """Run a W&B sweep's trials here, each a normal forge run (needs W&B online)."""
    from rich.markup import escape

    from forge_cli.sweep_agent import run_agent
    from forge_cli.sweeps import parse_sweep_path, sweep_store, why_no_sweeps

    cfg = settings()
    path = parse_sweep_path(sweep_id, cfg)
    if count is not None and count < 1:
        raise BadInput(f"bad --count {count}: the most trials to run here, 1 or more")
    if reason := why_no_sweeps(cfg, "running a sweep's trials"):
        raise BadInput(f"{reason}; {_local_alternative('weekN', 'EXPERIMENT', 'cpu')}")

    def finished(record, shown) -> None:
        values = ", ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                           for key, value in shown.items())
        ui.console.print(f"[green]✓[/] trial {record.id} ({escape(values)}; "
                         f"{record.duration_s:.1f}s) → {record.path}", highlight=False,
                         soft_wrap=True)

    def failed(line: str) -> None:
        ui.console.print(f"[red]✗[/] {escape(line)}", highlight=False, soft_wrap=True)

    report = run_agent(path, cfg, count, on_finished=finished, on_failed=failed,
                       notify=lambda line: ui.console.print(f"[yellow]note:[/] {escape(line)}",
                                                            highlight=False, soft_wrap=True))
    store = sweep_store(cfg, path.id).root
    if report.interrupted:
        ui.errors.print(f"[bold red]interrupted:[/] finished trials are kept in {store}; the "
                        f"partial one moved to {store / '.failed'}", highlight=False,
                        soft_wrap=True)
        raise typer.Exit(130)
    total = len(report.records) + len(report.failures) + len(report.stopped)
    if report.failures:
        raise ForgeError(f"{len(report.failures)} of {total} trials failed: "
                         + "; ".join(report.failures))
    ui.console.print(f"{total} trial(s) of sweep {path} finished"
                     + (f": runs in {store}" if total else ": the sweep had none left to run"),
                     highlight=False, soft_wrap=True)
