"""Is this commit's pipeline slower than another's? ``python bench/compare_pipeline.py --base REF``.

The machine is shared and noisy, so absolute alerts/s of two runs made minutes apart say little;
this runs ``bench/pipeline.py`` of both trees (the base checked out in a temporary git worktree,
each tree benchmarked with its *own* script, so a layout change does not break the comparison)
alternately, ``--rounds`` times, and reports the ratio of the medians: above 1.0 means this tree
is faster. Only the timed runs are made (``--alerts 1`` skips the long memory run).

Results go to ``bench/results/compare_pipeline.json`` and ``.md``.

Limit: both trees load the plugins the *installed* package declares (its entry points), so a base
commit older than a built-in plugin module fails to import it; compare such commits from a venv
of their own (``pip install -e`` of the base) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FIGURES = ("pipeline", "with_parsing")


def run_once(tree: Path, sample: int) -> dict[str, float]:
    """alerts/s of one ``bench/pipeline.py`` run in ``tree`` (its own package first on sys.path)."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [sys.executable, str(tree / "bench" / "pipeline.py"), "--alerts", "1", "--sample", str(sample),
             "--repeat", "1", "--out", out],
            cwd=tree, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(tree)},
        )
        data = json.loads((Path(out) / "pipeline.json").read_text())
    return {name: float(data[f"{name}_alerts_per_second"]) for name in FIGURES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", required=True, help="the commit to compare against (e.g. HEAD~5, a sha)")
    parser.add_argument("--sample", type=int, default=20_000, help="alerts per timed run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    base_sha = subprocess.run(["git", "rev-parse", args.base], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout.strip()
    head_sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout.strip()
    samples: dict[str, dict[str, list[float]]] = {"base": {n: [] for n in FIGURES}, "head": {n: [] for n in FIGURES}}
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), base_sha], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for _ in range(args.rounds):
                for side, tree in (("base", base_tree), ("head", ROOT)):
                    for name, value in run_once(tree, args.sample).items():
                        samples[side][name].append(value)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "base": base_sha, "head": head_sha, "sample": args.sample, "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "figures": {
            name: {
                "base_median": statistics.median(samples["base"][name]),
                "head_median": statistics.median(samples["head"][name]),
                "ratio_head_to_base": round(
                    statistics.median(samples["head"][name]) / statistics.median(samples["base"][name]), 3),
                "base_runs": samples["base"][name], "head_runs": samples["head"][name],
            }
            for name in FIGURES
        },
    }
    lines = [f"# Pipeline: HEAD against {args.base} ({result['when']})", "",
             f"base `{base_sha[:10]}`, head `{head_sha[:10]}`; {args.rounds} alternating rounds of "
             f"{args.sample:,} alerts each (CPU time, one core); ratio above 1.0: head is faster.", "",
             "| figure | base median alerts/s | head median alerts/s | head / base |", "|---|---|---|---|"]
    for name, fig in result["figures"].items():
        lines.append(f"| {name} | {fig['base_median']:,.0f} | {fig['head_median']:,.0f} | "
                     f"{fig['ratio_head_to_base']:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "compare_pipeline.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
