"""The ``kvc`` driver: ``kvc demo`` (more subcommands arrive with the frontend)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kvc", description="kvc: a compiler for memory-efficient LLM inference")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compile and run the built-in example on the cpu target, print a report")
    demo.add_argument("--quiet", action="store_true", help="print only the report")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from kvc.demo import run_demo

        return run_demo(quiet=args.quiet)
    return 2


if __name__ == "__main__":
    sys.exit(main())
