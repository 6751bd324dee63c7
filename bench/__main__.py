"""`python -m bench [--quick] [--only NAME,...]`: run the benchmarks, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    burst,
    growth,
    loop_lag,
    pg_burst,
    previews,
    procinfo,
    sequential,
    startup,
    store_scale,
    storyboard,
    whatif,
)
from bench.harness import REPO
from bench.report import Section, render, write
from bench.session import BENCH_DIR, Session

Benchmark = Callable[[Session], Awaitable[Section]]
# Order matters: the burst compares itself with the sequential CPU per step.
BENCHMARKS: dict[str, Benchmark] = {
    "sequential": sequential.run,
    "burst": burst.run,
    "growth": growth.run,
    "lag": loop_lag.run,
    "startup": startup.run,
    "store": store_scale.run,
    "previews": previews.run,
    "storyboard": storyboard.run,
    "pgburst": pg_burst.run,
}
FINDINGS = BENCH_DIR / "FINDINGS.md"


async def run_all(session: Session, names: list[str]) -> list[Section]:
    """Run the chosen benchmarks in order, reporting progress on stderr."""
    sections = []
    started = time.monotonic()
    for name in names:
        print(f"[bench {time.monotonic() - started:6.1f}s] {name} ...", file=sys.stderr)
        sections.append(await BENCHMARKS[name](session))
        for check in sections[-1].checks:
            verdict = "pass" if check.passed else "MISS"
            print(f"    {verdict}: {check.name}: {check.measured}", file=sys.stderr)
    print(f"[bench {time.monotonic() - started:6.1f}s] done", file=sys.stderr)
    return sections


def main() -> int:
    """Entry point of `make bench`."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="each benchmark once with tiny sizes (< 60 s)"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}"
    )
    parser.add_argument("--output", type=Path, default=None, help="where to write the report")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders and logs")
    parser.add_argument(
        "--whatif",
        default="",
        help=f"run ours with fix prototypes (bench/whatif.py): {', '.join(whatif.FIXES)}",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    names = [n for n in BENCHMARKS if n in names]
    bad_fixes = [f for f in args.whatif.split(",") if f and f not in whatif.FIXES]
    if bad_fixes:
        parser.error(f"unknown fix(es): {', '.join(bad_fixes)}")
    if args.output:
        output = args.output
    elif args.whatif:
        output = BENCH_DIR / "out" / "RESULTS-whatif.md"
    elif args.quick:
        output = BENCH_DIR / "out" / "RESULTS-quick.md"
    else:
        output = BENCH_DIR / "RESULTS.md"

    started = time.monotonic()
    session = Session.create(args.quick, args.whatif)
    try:
        sections = asyncio.run(run_all(session, names))
    except BaseException:
        print(f"bench failed; runs and logs kept in {session.workroot}", file=sys.stderr)
        raise
    official = not args.quick and not args.whatif
    findings = FINDINGS.read_text(encoding="utf-8") if FINDINGS.exists() and official else ""
    text = render(
        procinfo.describe_machine(REPO),
        sections,
        quick=args.quick,
        fixes=args.whatif,
        duration_s=time.monotonic() - started,
        findings=findings,
    )
    write(output, text)
    if args.keep:
        print(f"runs and logs kept in {session.workroot}", file=sys.stderr)
    else:
        session.cleanup()
    print(f"wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
