"""`credit-sync`: the command line of the pipeline.

credit-sync status [--json]            what the staging store holds, any time
credit-sync failures --department X    one department's open failures (clerk view)
credit-sync check-code --type uscc|id  check-digit verdicts, one line per code
credit-sync db upgrade                 migrate the staging store
credit-sync demo                       the embedded-default demo (what `make demo` runs)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _store(url: str | None):  # type: ignore[no-untyped-def]
    from credit_sync.staging.store import default_url, open_store

    return open_store(url or default_url())


def cmd_status(args: argparse.Namespace) -> int:
    from credit_sync.reporting import render_text, status

    report = status(_store(args.staging_url), failure_limit=args.limit)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(render_text(report))
    return EXIT_OK


def cmd_failures(args: argparse.Namespace) -> int:
    from credit_sync.reporting import open_failures

    with _store(args.staging_url).connect() as conn:
        rows = open_failures(conn, department=args.department)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{args.department}：未解决的问题 {len(rows)} 条")
    for r in rows:
        print(
            f"{r['kind']}\t{r['business_key'] or r['record_id']}\t{r['field'] or ''}\t"
            f"{r['severity']}\t{r['rule']}\t{r['message']}"
        )
    return EXIT_OK


def cmd_check_code(args: argparse.Namespace) -> int:
    from credit_sync.codes import check_resident_id, check_uscc, normalise_code

    codes = args.codes or [line.rstrip("\r\n") for line in sys.stdin]
    today = date.today()  # a clerk checking a code by hand means today
    status = EXIT_OK
    for raw in codes:
        code = normalise_code(raw).value
        problem = check_uscc(code) if args.type == "uscc" else check_resident_id(code, today)
        if problem:
            status = EXIT_INVALID
            print(f"{raw}\tinvalid\t{problem.message}")
        else:
            print(f"{raw}\tvalid")
    return status


def cmd_db(args: argparse.Namespace) -> int:
    from credit_sync.staging.store import current_revision

    engine = _store(args.staging_url)  # opening migrates
    print(f"staging store at revision {current_revision(engine)}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    if args.fix_one:
        from credit_sync.demo.environment import DemoPaths
        from credit_sync.demo.fix import fix_one_credit_code

        fix = fix_one_credit_code(DemoPaths.default().demo / "scjg.db")
        if fix is None:
            print("no defective credit code left to fix")
            return EXIT_INVALID
        print(f"fixed {fix.table} {fix.source_key}: {fix.column} {fix.old} -> {fix.new}")
        return EXIT_OK
    from credit_sync.demo.runner import run_demo

    return run_demo()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2, as documented
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="credit-sync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    staging = {
        "help": "staging store SQLAlchemy URL (default: $CREDIT_SYNC_STAGING_URL or the "
        "embedded SQLite file)"
    }

    p = sub.add_parser("status", help="what the staging store holds")
    p.add_argument("--json", action="store_true", help="machine-readable (shape in README)")
    p.add_argument("--limit", type=int, default=50, help="open failures listed (default 50)")
    p.add_argument("--staging-url", **staging)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("failures", help="one department's open failures")
    p.add_argument("--department", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--staging-url", **staging)
    p.set_defaults(func=cmd_failures)

    p = sub.add_parser("check-code", help="check unified social credit codes or ID numbers")
    p.add_argument("--type", required=True, choices=["uscc", "id"])
    p.add_argument("codes", nargs="*", help="codes (default: one per line on stdin)")
    p.set_defaults(func=cmd_check_code)

    p = sub.add_parser("db", help="staging store schema")
    p.add_argument("action", choices=["upgrade"])
    p.add_argument("--staging-url", **staging)
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("demo", help="run the demo on the embedded default")
    p.add_argument(
        "--fix-one",
        action="store_true",
        help="instead of running: correct one defective record at a demo source",
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
