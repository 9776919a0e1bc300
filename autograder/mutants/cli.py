"""`deepgrade mutants`: how strong are a topic's graders? Registered on `deepgrade` in cli.py."""

from __future__ import annotations

import json
import sys

import click

from autograder.cluster.cli import cluster_options


def _topics(topic: str) -> list[str]:
    from autograder.grading import available_topics

    topics = available_topics()
    if topic == "all":
        return topics
    if topic not in topics:
        raise click.ClickException(f"unknown topic {topic!r}; choose from: {', '.join(topics)} or all")
    return [topic]


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_report(report, verbose: bool) -> None:
    from collections import defaultdict

    click.secho(f"\n{report.topic}: {len(report.outcomes)} mutants, {report.count('killed')} killed, "
                f"{report.count('survived')} survived, {report.count('equivalent')} equivalent, "
                f"{report.count('tolerated')} tolerated  ({report.seconds:.0f} s)", bold=True)
    by_function = defaultdict(list)
    for o in report.outcomes:
        by_function[o.function].append(o)
    for function, outcomes in by_function.items():
        killed = sum(o.status == "killed" for o in outcomes)
        survived = [o for o in outcomes if o.status == "survived"]
        color = "red" if survived else "green"
        click.secho(f"  {function}: {killed}/{len(outcomes)} killed", fg=color)
        for o in outcomes:
            if o.status == "survived":
                click.secho(f"    SURVIVED  line {o.line}: {_short(o.after, 90)}", fg="red")
                click.echo(f"              {o.operator}: {o.original!r} -> {o.mutated!r} (occurrence {o.occurrence})")
            elif o.status in ("equivalent", "tolerated") and verbose:
                click.echo(f"    {o.status:<9} line {o.line}: {_short(o.after, 90)}  ({o.reason})")
            elif o.status == "killed" and verbose:
                click.echo(f"    killed    line {o.line}: {_short(o.after, 90)}")
                click.echo(f"              by {o.killed_by[0]}: {_short(o.message, 110)}")
    for d in report.unused_declarations:
        click.secho(f"  unused declaration: {d.function}: {d.original!r} -> {d.mutated!r} (occurrence "
                    f"{d.occurrence}) matches no surviving mutant; remove it", fg="yellow")
    click.secho(f"  mutation score: {100 * report.score:.1f} % of {report.count('killed') + report.count('survived')}"
                " non-equivalent mutants", fg="red" if report.undeclared_survivors else "green")


@click.command()
@click.argument("topic")
@click.option("--limit", type=click.IntRange(1), default=None,
              help="Grade only a sample of this many mutants (drawn with --seed)  [default: all]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --limit sample.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Parallel grading processes  [default: cores]")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report instead of the table.")
@click.option("-v", "--verbose", is_flag=True, help="List every mutant with the message that killed it.")
@cluster_options
def mutants(topic: str, limit: int | None, seed: int, workers: int | None, as_json: bool, verbose: bool,
            **cluster) -> None:
    """Measure the graders of TOPIC (or all) against single-point mutants of the reference.

    Each mutant is solutions/TOPIC.py with one change inside a solution region (a swapped
    operator or comparison, a perturbed constant, a dropped eps, a changed axis, mean for
    sum, a removed sqrt/transpose/.copy(), another local returned, a statement replaced by
    pass, a negated condition, an off-by-one, a changed ddof). Every mutant is graded by the
    hidden graders in the sandbox, like a student's file: it is killed when any check
    fails. A surviving mutant is either a gap in the graders (add a check that names the
    mistake) or a change that makes no difference: declare it, with a one-line reason, in
    autograder/graders/TOPIC.equivalent.yaml.

    \b
    deepgrade mutants activations              # every mutant, survivors listed per function
    deepgrade mutants all --limit 20 --seed 3  # a quick sample of each topic
    deepgrade mutants optimizers -v            # also each killed mutant and its message

    Exit status 1 when a mutant survives that is not declared.
    """
    from autograder.cluster.cli import settings_from_options
    from autograder.cluster.settings import ClusterError
    from autograder.mutants.run import DeclarationError, run_mutants

    settings = settings_from_options(**cluster)
    reports = []
    for name in _topics(topic):
        try:
            report = run_mutants(name, seed=seed, limit=limit, workers=workers, cluster=settings)
        except (DeclarationError, RuntimeError, ClusterError) as exc:
            raise click.ClickException(str(exc)) from None
        reports.append(report)
        if not as_json:
            _print_report(report, verbose)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reports], indent=1, ensure_ascii=False))
    if any(r.undeclared_survivors for r in reports):
        sys.exit(1)


def register(main: click.Group) -> None:
    """Add `mutants` to the `deepgrade` command group."""
    main.add_command(mutants)
