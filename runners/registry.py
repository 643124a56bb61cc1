"""Registry stages from the command line: list, history, promote, rollback, stage.

    python -m runners.registry list [NAME]
    python -m runners.registry history NAME
    python -m runners.registry promote NAME@VERSION --data bars.parquet     # to champion, after the comparison
    python -m runners.registry promote NAME@VERSION --to challenger
    python -m runners.registry rollback NAME
    python -m runners.registry stage NAME@VERSION retired

Every version starts as a candidate (``runners.walkforward --register``).
``promote`` validates the bundle (its files' hashes; with ``--data`` that it
fits the bars and gives probabilities there) and refuses a promotion that
fails. Promoting to champion while a champion exists needs ``--data``: both
are backtested on those bars with their own rules and costs, and a paired
test on session returns (:func:`ml.monitoring.paired_session_test`) is
printed and stored in the stage history before the change. ``rollback``
retires the champion and brings back the one before it. The registry is
``--registry DIR`` (default ``$DAYTRADE_ML_REGISTRY``, else
``~/.daytrade-ml/models``).
"""

from __future__ import annotations

import json
import sys

from ml.exceptions import ParameterError
from runners._cli import OneLineParser, run_cli
from runners._pipeline import add_data_flags, data_options, load_instrument

__all__ = ["build_parser", "main"]


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m runners.registry",
                      description="Model registry stages: candidate, challenger, champion, retired.")
    p.add_argument("--registry", metavar="DIR",
                   help="model registry folder (default $DAYTRADE_ML_REGISTRY, else ~/.daytrade-ml/models)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    s = sub.add_parser("list", help="versions with their stage and metrics")
    s.add_argument("name", nargs="?")
    s = sub.add_parser("history", help="every stage change of a name")
    s.add_argument("name")
    s = sub.add_parser("promote", help="validate, compare with the champion, and promote")
    s.add_argument("ref", metavar="NAME@VERSION")
    s.add_argument("--to", choices=("champion", "challenger"), default="champion")
    s.add_argument("--note", default="", help="why (kept in the history)")
    add_data_flags(s)
    s = sub.add_parser("rollback", help="retire the champion and bring back the previous one")
    s.add_argument("name")
    s.add_argument("--note", default="")
    s = sub.add_parser("stage", help="set a stage directly (candidate, challenger, retired)")
    s.add_argument("ref", metavar="NAME@VERSION")
    s.add_argument("stage", choices=("candidate", "challenger", "retired"))
    s.add_argument("--note", default="")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise ParameterError("a command is needed: list, history, promote, rollback or stage "
                             "(see python -m runners.registry --help)")
    from ml.registry import ModelRegistry, default_registry_path, parse_ref

    reg = ModelRegistry(args.registry if args.registry else default_registry_path())
    if args.command == "list":
        table = reg.list(args.name)
        print(table.to_string(index=False) if len(table) else f"registry {reg.root} is empty")
    elif args.command == "history":
        for e in reg.stage_history(args.name) or []:
            print(f"{e['time']}  v{e['version']}: {e['previous']} -> {e['stage']} ({e['reason']})"
                  + (f"  {e['note']}" if e["note"] else ""))
        if not reg.stage_history(args.name):
            reg.versions(args.name)          # an unknown name says so
            print(f"{args.name}: no stage change yet (every version is a candidate)")
    elif args.command == "promote":
        name, version = parse_ref(args.ref)
        version = reg._resolve(reg._check_name(name), version)
        _promote(reg, name, version, args)
    elif args.command == "rollback":
        events = reg.rollback(args.name, note=args.note)
        print(f"{args.name}: v{events[0]['version']} retired, v{events[1]['version']} is champion again")
    elif args.command == "stage":
        name, version = parse_ref(args.ref)
        events = reg.set_stage(name, version, args.stage, note=args.note)
        for e in events:
            print(f"{name}@{e['version']}: {e['previous']} -> {e['stage']}")
        if not events:
            print(f"{args.ref} is already {args.stage}")
    return 0


def _promote(reg, name: str, version: int, args) -> None:
    bars = None
    if args.data:
        bars, _ = load_instrument(args.data, **data_options(args))
    champion = reg.version_at(name, "champion")
    comparison = None
    if args.to == "champion" and champion is not None and champion != version:
        if bars is None:
            raise ParameterError(f"{name} has a champion (v{champion}): promoting v{version} needs --data FILE, "
                                 "the bars both are compared on before the change")
        from ml.monitoring import compare_bundles

        comparison = compare_bundles(reg.load_bundle(f"{name}@{champion}"), reg.load_bundle(f"{name}@{version}"),
                                     bars)
        c = comparison["test"]
        print(f"v{version} against champion v{champion} on {c['sessions']} session(s): mean session return "
              f"difference {c['mean_difference']:+.4%}, paired t-test p {c['t_test_p']:.3f}, Wilcoxon p "
              f"{c['wilcoxon_p']:.3f}: {c['verdict']}")
    note = args.note
    if comparison is not None:
        note = (note + "; " if note else "") + json.dumps(comparison, sort_keys=True, default=str)
    events = reg.promote(name, version, to=args.to, note=note,
                         validate=lambda b: b.validate(bars, getattr(args, "calendar", None)))
    for e in events:
        print(f"{name}@{e['version']}: {e['previous']} -> {e['stage']}")
    if not events:
        print(f"{name}@{version} is already {args.to}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
