"""``python -m scripts.bench.quality [--datasets ml100k synthetic] [--quick] [--doc PATH]``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from . import doc, report, runner

ROOT = Path(__file__).resolve().parents[3]


def machine() -> str:
    cores = os.cpu_count()
    try:
        model = next((line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
            if line.startswith("Model name")), "unknown CPU")
    except OSError:
        model = "unknown CPU"
    try:
        env = {k: v for k, v in os.environ.items()
               if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}  # nproc honours these
        cores = int(subprocess.run(["nproc"], capture_output=True, text=True, env=env,
                                   check=True).stdout.strip())
    except (OSError, ValueError, subprocess.CalledProcessError):
        pass
    return f"{cores} cores (`nproc`), `{model}` (`lscpu`)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.bench.quality", description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["ml100k", "synthetic"],
                    choices=["ml100k", "synthetic"])
    ap.add_argument("--quick", action="store_true",
                    help="smaller synthetic set and grids (~1-2 min); does not write the doc "
                         "unless --doc is given")
    ap.add_argument("--doc", default=None,
                    help="markdown output (default docs/quality.md on full runs)")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--extra-seeds", type=int, default=None,
                    help="re-split, re-tune and re-score on this many more test splits "
                         "(seeds 43, 44, ...); default 4 for ml100k and 2 for synthetic, "
                         "1 and 0 with --quick")
    args = ap.parse_args(argv)
    cmd = "python -m scripts.bench.quality " + " ".join(argv if argv is not None else sys.argv[1:])

    started = time.perf_counter()
    results = []
    for name in args.datasets:
        t0 = time.perf_counter()
        extra = args.extra_seeds
        if extra is None:
            extra = {"ml100k": 4, "synthetic": 2}[name] if not args.quick else int(
                name == "ml100k")
        res = runner.evaluate_dataset(runner.load(name, args.quick), args.quick, extra)
        res.seconds = time.perf_counter() - t0
        results.append(res)
        print(f"\n== {name} ({res.seconds:.0f}s) ==")
        print(report.dataset_section(res))
        if res.sweep:
            print(report.sweep_table(res))
    total = time.perf_counter() - started
    print("\n== summary ==")
    print(report.short_table(results))
    for res in results:
        for v in report.verdicts(res):
            print(f"{v.target}: {v.text(res.log.name)}")
    print(f"total {total:.0f}s")

    path = args.doc or (None if args.quick or args.no_doc else str(ROOT / "docs" / "quality.md"))
    if path and not args.no_doc:
        Path(path).write_text(doc.render(results, cmd.strip(), machine(), total, args.quick))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
