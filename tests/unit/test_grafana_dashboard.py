"""The Grafana dashboard in packaging/grafana/ is built on the metrics the daemon exposes: every
series a panel queries exists in ``Metrics``' registry (a renamed metric breaks this test, not
an admin's dashboard at 3 a.m.), and every metric the daemon exposes is on a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from connector.runtime.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "packaging" / "grafana" / "itsm-connector-dashboard.json"


def _exposed() -> set[str]:
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(
            f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_count", "_sum") if family.type != "gauge"
        )
    return names


def test_every_queried_series_is_exposed_and_every_metric_is_shown() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bitsm_[a-z_]+", target["expr"])
    }
    exposed = _exposed()
    assert queried <= exposed, f"queried but not exposed: {sorted(queried - exposed)}"
    families = {f.name for f in Metrics().registry.collect()}
    shown = {name for name in families if any(q.startswith(name) for q in queried)}
    assert shown == families, f"exposed but on no panel: {sorted(families - shown)}"
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
