"""Peak resident set of ``itsm-connector simulate`` over a long synthetic stream (issue 15).

The stream (``connector.util.synthetic``, seed 2, the same as bench/pipeline.py) is generated
here and piped into ``itsm-connector simulate --input -`` running as a child process; its output
goes to /dev/null. Every ``--every`` alerts the child's resident set (``VmRSS`` of
/proc/<pid>/status) is read, so one run shows whether memory plateaus; at the end its peak
(``VmHWM``, and ``ru_maxrss`` from ``os.wait4``) is the figure the target is about.

    python bench/memory.py --alerts 1000000 --every 100000   # writes bench/results/memory.{json,md}

Only the child is measured: the generator's own memory is not in it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from connector.util.synthetic import alert_stream

RESULTS = Path(__file__).resolve().parent / "results"


def _status(pid: int, field: str) -> float:
    """A /proc/<pid>/status memory field, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    total = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": f"{int(total.split()[1]) // 1024} MiB",
        "python": platform.python_version(),
        "os": platform.platform(),
        "load_before": os.getloadavg()[0],
    }


def measure(alerts: int, every: int, seed: int) -> dict[str, Any]:
    exe = shutil.which("itsm-connector", path=str(Path(sys.executable).parent)) or "itsm-connector"
    machine = _machine()
    started = time.monotonic()
    child = subprocess.Popen(
        [exe, "simulate", "--input", "-", "--forget-finished"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert child.stdin is not None
    samples: list[dict[str, Any]] = []
    for number, line in enumerate(alert_stream(alerts, seed=seed), start=1):
        child.stdin.write(json.dumps(line, ensure_ascii=False) + "\n")
        if number % every == 0:
            child.stdin.flush()
            samples.append(
                {
                    "alerts": number,
                    "rss_mib": round(_status(child.pid, "VmRSS"), 1),
                    "peak_mib": round(_status(child.pid, "VmHWM"), 1),
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
            print(samples[-1], file=sys.stderr, flush=True)
    child.stdin.flush()
    child.stdin.close()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    summary = child.stderr.read().strip() if child.stderr is not None else ""
    if child.returncode != 0:
        raise SystemExit(f"simulate failed ({child.returncode}): {summary[-2000:]}")
    return {
        "alerts": alerts,
        "seed": seed,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "samples": samples,
        "summary": summary.splitlines()[-1] if summary else "",
        "machine": {**machine, "load_after": os.getloadavg()[0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=100_000, help="read the child's resident set this often")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = parser.parse_args()
    result = measure(args.alerts, args.every, args.seed)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
