"""The same alert storm through the real Zabbix into the same real Redmine, by two integrations.

README
------
Issue 15 measured the connector against Zabbix's own Redmine webhook (the ``Redmine`` media
type in Zabbix 6.0's default data) and found it slower and far chattier. This benchmark runs
both sides on the same servers in one session, so the ratios are taken on one machine at one
time (it is shared: absolute times move with the load, ratios within a run much less):

* **zabbix-redmine**: a copy of Zabbix's ``Redmine`` media type, configured through the Zabbix
  API against our Redmine (access key, URL, project, tracker, ``redmine_close_status_id`` =
  Resolved, so a recovery resolves the issue as the connector does), a recipient user and an
  action for the storm's host (problem → create, recovery → update);
* **connector**: the shipped Zabbix webhook media type (``zabbix/itsm_connector_media_type.yaml``)
  and the connector daemon (``connector run``: the webhook source, the poll source for the
  acknowledgements, the Redmine backend; drain every second, sweep and sync-back every minute).
  Its rule book is the shipped one with one site file, ``flapping.yaml: enabled: false``: fire →
  resolve → fire within minutes is three state changes, which the shipped rule takes for a
  flapping problem and keeps on the first ticket (no new issue) — right for an operator, but then
  the two sides would not make the same issues. ``--flapping`` keeps the shipped rule.

Each side gets its own host with ``--triggers`` trapper items and triggers (titles distinct in
their words, so no correlation rule takes two for one problem) and its own counting proxy in
front of Redmine (``tests/faults/proxy.py``: every request Redmine receives from that side). The
storm, per side: **wave 1** fires every trigger; **wave 2** resolves half of them; **wave 3**
fires that half again. Timed from the first value sent: *wave 1 drained* (an issue per trigger
exists) and *all waves settled* (the resolved half is Resolved and the re-fired half has its new
issues). The requests are counted until ``--tail`` seconds after settling, so what comes a minute
later (a sweep's write, a sync-back pass) is counted too. ``--pairs`` runs alternate which side
goes first. Verified per side: one issue per problem (none lost, none doubled), and every
connector issue carries its full field set.

    .venv/bin/python bench/storm.py                          # 4 pairs of 200 triggers
    .venv/bin/python bench/storm.py --pairs 1 --triggers 40  # quick mode

Needs ``scripts/services/zabbix.sh`` and ``redmine.sh`` running (their env files,
``/tmp/svc/<name>/<name>.env``, or ``ZABBIX_ENV`` / ``REDMINE_ENV``) and root for the Zabbix
config-cache reload. Everything it creates has a unique name and is deleted at the end except
the Redmine issues (the shared Redmine keeps them; their subjects carry the run's tag). Writes
``bench/results/storm.json`` and ``storm.md`` (``--out`` another stem); exits 1 when a side lost or doubled a ticket.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from connector.domain.fields import CATALOGUE, KEY_FIELD  # noqa: E402
from tests.faults.proxy import FaultProxy  # noqa: E402
from tests.integration.zabbix_helpers import ZabbixLab, unique_name, wait_until  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MEDIA_TYPE = ROOT / "zabbix" / "itsm_connector_media_type.yaml"
PEER, CONNECTOR = "zabbix-redmine", "connector"
#: the fields every connector issue of a monitoring alert carries (by catalogue key)
FULL_FIELDS = (KEY_FIELD, "impact", "urgency", "category", "source", "ci", "outage_start", "registered_at")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def code(n: int) -> str:
    """A trigger's word: letters only (digits are one symptom to the fingerprint rule)."""
    out = ""
    n += 26 * 26
    while n:
        n, r = divmod(n, 26)
        out = LETTERS[r] + out
    return out


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values


# --- Redmine, read directly (not through a counting proxy) -----------------------------------


class RedmineReader:
    """The benchmark's own look at Redmine: issues of a run by the tag in their subject."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["REDMINE_URL"]
        self.project = env["REDMINE_PROJECT"]
        self.session = requests.Session()
        self.session.headers["X-Redmine-API-Key"] = env["REDMINE_API_KEY"]

    def issues(self, tag: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        offset = 0
        while True:
            params = {
                "project_id": self.project,
                "status_id": "*",
                "subject": f"~{tag}",
                "sort": "id",
                "limit": 100,
                "offset": offset,
            }
            answer = self.session.get(f"{self.url}/issues.json", params=params, timeout=60)
            answer.raise_for_status()
            page = answer.json()
            found += page["issues"]
            offset += 100
            if not page["issues"] or offset >= page["total_count"]:
                return [i for i in found if tag in i["subject"]]

    def custom_field_names(self) -> dict[int, str]:
        answer = self.session.get(f"{self.url}/custom_fields.json", timeout=60)
        answer.raise_for_status()
        return {f["id"]: f["name"] for f in answer.json()["custom_fields"]}


# --- Zabbix ------------------------------------------------------------------------------------


class StormHost:
    """One host with ``n`` trapper items and a trigger on each; sends values in bulk."""

    def __init__(self, lab: ZabbixLab, tag: str, n: int) -> None:
        self.lab, self.tag, self.n = lab, tag, n
        api = lab.api
        self.groupid = api.hostgroup.create(name=f"{tag} group")["groupids"][0]
        lab._groupids.append(self.groupid)
        self.hostid = api.host.create(host=tag, groups=[{"groupid": self.groupid}])["hostids"][0]
        lab._hostids.append(self.hostid)
        self.keys = [f"storm.{code(i)}" for i in range(n)]
        self.titles = [f"{tag} {code(i)} storm down" for i in range(n)]
        api.item.create(*[{"hostid": self.hostid, "name": k, "key_": k, "type": 2, "value_type": 3} for k in self.keys])
        api.trigger.create(
            *[
                {"description": title, "expression": f"last(/{tag}/{key})>0", "priority": 4}
                for title, key in zip(self.titles, self.keys, strict=True)
            ]
        )

    def send(self, indexes: range | list[int], value: int, timeout: float = 120.0) -> None:
        """Send ``value`` to the items ``indexes`` (one zabbix_sender call) until all are accepted."""
        env = self.lab.env
        lines = "".join(f"{self.tag} {self.keys[i]} {value}\n" for i in indexes)
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(
                [
                    env.get("ZABBIX_SENDER", "zabbix_sender"),
                    "-z",
                    env["ZABBIX_SERVER_HOST"],
                    "-p",
                    env["ZABBIX_SERVER_PORT"],
                    "-i",
                    "-",
                ],
                input=lines,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if f"processed: {len(indexes)};" in out.stdout:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"zabbix_sender: not all values accepted: {out.stdout.strip()}")
            self.lab.reload_config_cache()
            time.sleep(2)

    def prime(self) -> None:
        """Make the server know every item and trigger: a 0 for each (no problem), accepted."""
        self.lab.reload_config_cache()
        self.send(range(self.n), 0)


def user_and_action(lab: ZabbixLab, mediatypeid: str, hostid: str, made: dict[str, str], *, updates: bool) -> None:
    """A recipient with the media and an action for the host: problem and recovery messages."""
    api = lab.api
    media = {"mediatypeid": mediatypeid, "sendto": "storm", "active": 0, "severity": 63, "period": "1-7,00:00-24:00"}
    made["user"] = api.user.create(
        username=unique_name("storm-user"),
        passwd=f"Zx!{uuid.uuid4().hex}",
        roleid="3",
        usrgrps=[{"usrgrpid": "7"}],
        medias=[media],
    )["userids"][0]
    action: dict[str, Any] = {
        "name": unique_name("storm-action"),
        "eventsource": 0,
        "status": 0,
        "esc_period": "1h",
        "filter": {"evaltype": 0, "conditions": [{"conditiontype": 1, "operator": 0, "value": hostid}]},
        "operations": [
            {
                "operationtype": 0,
                "opmessage": {"default_msg": 1, "mediatypeid": mediatypeid},
                "opmessage_usr": [{"userid": made["user"]}],
            }
        ],
        "recovery_operations": [{"operationtype": 11, "opmessage": {"default_msg": 1}}],
    }
    if updates:
        action["update_operations"] = [{"operationtype": 12, "opmessage": {"default_msg": 1}}]
    made["action"] = api.action.create(**action)["actionids"][0]


def peer_media(lab: ZabbixLab, redmine_env: dict[str, str], url: str, tracker_id: str) -> str:
    """A copy of Zabbix's own ``Redmine`` media type, configured against our Redmine."""
    api = lab.api
    (shipped,) = api.mediatype.get(filter={"name": "Redmine"}, output="extend", selectMessageTemplates="extend")
    values = {
        "redmine_access_key": redmine_env["REDMINE_API_KEY"],
        "redmine_url": url,
        "redmine_project": redmine_env.get("REDMINE_PROJECT_ID") or redmine_env["REDMINE_PROJECT"],
        "redmine_tracker_id": tracker_id,
    }
    params = [{"name": p["name"], "value": values.get(p["name"], p["value"])} for p in shipped["parameters"]]
    params.append({"name": "redmine_close_status_id", "value": redmine_status_id(redmine_env, "Resolved")})
    templates = [
        {k: t[k] for k in ("eventsource", "recovery", "subject", "message")} for t in shipped["message_templates"]
    ]
    created = api.mediatype.create(
        name=unique_name("storm-redmine"),
        type=shipped["type"],
        script=shipped["script"],
        parameters=params,
        process_tags=shipped["process_tags"],
        timeout=shipped.get("timeout", "30s"),
        message_templates=templates,
        status=0,
    )
    return str(created["mediatypeids"][0])


def connector_media(lab: ZabbixLab, endpoint: str, secret: str) -> str:
    """The shipped connector media type under a unique name, pointed at the daemon."""
    api = lab.api
    name = unique_name("storm-itsm")
    text = MEDIA_TYPE.read_text(encoding="utf-8").replace("    - name: itsm-connector\n", f"    - name: {name}\n", 1)
    api.configuration["import"](
        format="yaml", source=text, rules={"mediaTypes": {"createMissing": True, "updateExisting": False}}
    )
    (media,) = api.mediatype.get(filter={"name": name}, output="extend")
    values = {"itsm_url": endpoint, "itsm_secret": secret}
    params = [{"name": p["name"], "value": values.get(p["name"], p["value"])} for p in media["parameters"]]
    api.mediatype.update(mediatypeid=media["mediatypeid"], parameters=params)
    return str(media["mediatypeid"])


def redmine_status_id(env: dict[str, str], name: str) -> str:
    for pair in env.get("REDMINE_STATUS_IDS", "").split(","):
        ident, _, label = pair.partition(":")
        if label.replace("_", " ") == name:
            return ident
    return "3"


def redmine_tracker_id(env: dict[str, str], name: str) -> str:
    for pair in env.get("REDMINE_TRACKER_IDS", "").split(","):
        ident, _, label = pair.partition(":")
        if label == name:
            return ident
    return "3"


# --- the connector daemon ----------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_daemon(
    work: Path,
    proxy_url: str,
    port: int,
    secret: str,
    zabbix_env: dict[str, str],
    redmine_env: dict[str, str],
    flapping: bool,
) -> subprocess.Popen[bytes]:
    """``connector run`` on a fresh state: the webhook source on ``port``, Redmine behind the proxy.
    The poll source starts past every event (it acknowledges the connector's problems only)."""
    config = work / "connector.yaml"
    rules = work / "rules"
    rules.mkdir()
    if not flapping:
        (rules / "flapping.yaml").write_text("enabled: false\nmax_changes: 2\nwindow_minutes: 20\nquiet_minutes: 20\n")
    config.write_text(
        f"""
state:
  path: state.db
rules_dir: rules
backend:
  type: redmine
  url: {proxy_url}
  api_key: ${{REDMINE_API_KEY}}
  project: {redmine_env["REDMINE_PROJECT"]}
  timeout_seconds: 30
sources:
  - type: zabbix
    url: {zabbix_env["ZABBIX_API_URL"]}
    api_token: ${{ZABBIX_API_TOKEN}}
  - type: zabbix_webhook
    name: zabbix-push
    listen: 127.0.0.1
    port: {port}
    secret: ${{ITSM_WEBHOOK_SECRET}}
    source_name: zabbix
daemon:
  poll_seconds: 3600
  drain_seconds: 1
outbox:
  backoff_initial_seconds: 1
""",
        encoding="utf-8",
    )
    from connector.domain.clock import SystemClock
    from connector.state.store import Store

    store = Store(work / "state.db")
    store.set_cursor("zabbix", "999999999999", SystemClock().now())
    store.close()
    env = {
        **os.environ,
        "REDMINE_API_KEY": redmine_env["REDMINE_API_KEY"],
        "ZABBIX_API_TOKEN": zabbix_env["ZABBIX_API_TOKEN"],
        "ITSM_WEBHOOK_SECRET": secret,
    }
    log = (work / "daemon.log").open("w", encoding="utf-8")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "connector.cli.main", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=work,
    )

    def healthy() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until("the connector's endpoint", healthy, timeout=90)
    return daemon


# --- one side of one pair ---------------------------------------------------------------------


def run_side(
    side: str,
    lab: ZabbixLab,
    reader: RedmineReader,
    zabbix_env: dict[str, str],
    redmine_env: dict[str, str],
    triggers: int,
    tail: float,
    timeout: float,
    flapping: bool,
) -> dict[str, Any]:
    upstream = requests.utils.urlparse(redmine_env["REDMINE_URL"])
    proxy = FaultProxy((upstream.hostname or "127.0.0.1", upstream.port or 80), upstream_timeout=60)
    tag = unique_name(f"storm-{'peer' if side == PEER else 'itsm'}")
    made: dict[str, str] = {}
    daemon = None
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    try:
        host = StormHost(lab, tag, triggers)
        if side == PEER:
            tracker = redmine_tracker_id(redmine_env, "Support")
            made["mediatype"] = peer_media(lab, redmine_env, proxy.url, tracker)
            user_and_action(lab, made["mediatype"], host.hostid, made, updates=False)
        else:
            port, secret = free_port(), f"storm-{uuid.uuid4().hex}"
            made["mediatype"] = connector_media(lab, f"http://127.0.0.1:{port}/zabbix", secret)
            user_and_action(lab, made["mediatype"], host.hostid, made, updates=True)
            daemon = start_daemon(work, proxy.url, port, secret, zabbix_env, redmine_env, flapping)
        host.prime()
        time.sleep(3)
        baseline = len(proxy.seen())
        half = list(range(0, triggers, 2))
        started = time.monotonic()

        host.send(range(triggers), 1)
        wait_until("wave 1", lambda: len(reader.issues(tag)) >= triggers, timeout, 2.0)
        wave1 = time.monotonic() - started

        host.send(half, 0)

        def resolved() -> bool:
            issues = reader.issues(tag)
            return sum(i["status"]["name"] == "Resolved" for i in issues) >= len(half)

        wait_until("wave 2", resolved, timeout, 2.0)
        host.send(half, 1)
        wait_until("wave 3", lambda: len(reader.issues(tag)) >= triggers + len(half), timeout, 2.0)
        settled = time.monotonic() - started
        time.sleep(tail)
        seen = proxy.seen()[baseline:]
        issues = reader.issues(tag)
        verdict = verify(side, host, issues, half, reader)
        methods = Counter(s.line.split(" ", 1)[0] for s in seen)
        paths = Counter(_shape(s.line) for s in seen)
        return {
            "side": side,
            "tag": tag,
            "wave1_seconds": round(wave1, 1),
            "settled_seconds": round(settled, 1),
            "requests": len(seen),
            "by_method": dict(methods),
            "by_call": dict(paths.most_common()),
            **verdict,
        }
    finally:
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(timeout=40)
            except subprocess.TimeoutExpired:
                daemon.kill()
        for kind in ("action", "user", "mediatype"):
            if kind in made:
                try:
                    getattr(lab.api, kind).delete(made[kind])
                except Exception as exc:  # cleanup must not hide the result
                    print(f"cleanup of {kind} {made[kind]} failed: {exc}", file=sys.stderr)
        proxy.close()


def _shape(line: str) -> str:
    """``GET /issues/123.json?include=journals`` → ``GET /issues/N.json?include=journals``."""
    method, _, rest = line.partition(" ")
    target = rest.split(" ", 1)[0]
    path, _, query = target.partition("?")
    path = "/".join("N.json" if part.split(".")[0].isdigit() else part for part in path.split("/"))
    include = [q for q in query.split("&") if q.startswith("include=")]
    return f"{method} {path}" + (f"?{include[0]}" if include else "")


def verify(
    side: str, host: StormHost, issues: list[dict[str, Any]], half: list[int], reader: RedmineReader
) -> dict[str, Any]:
    """One issue per problem: each trigger's title in exactly one issue per firing."""
    per_title = Counter()
    for issue in issues:
        for title in host.titles:
            if title in issue["subject"]:
                per_title[title] += 1
    expected = {title: 2 if i in half else 1 for i, title in enumerate(host.titles)}
    lost = sorted(t for t, n in expected.items() if per_title[t] < n)
    doubled = sorted(t for t, n in expected.items() if per_title[t] > n)
    out: dict[str, Any] = {
        "issues": len(issues),
        "expected_issues": sum(expected.values()),
        "lost": len(lost),
        "doubled": len(doubled),
    }
    if side == CONNECTOR:
        names = reader.custom_field_names()
        wanted = {spec.name for spec in CATALOGUE if spec.key in FULL_FIELDS}
        short = 0
        for issue in issues:
            filled = {names.get(cf["id"], "") for cf in issue.get("custom_fields", []) if cf.get("value")}
            short += not wanted <= filled
        out["issues_missing_fields"] = short
        out["full_field_set"] = sorted(wanted)
    return out


# --- the report --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load] if load else None,
        "note": "shared machine: other engineers' test runs use the same cores and servers",
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in (PEER, CONNECTOR):
        mine = [r for r in runs if r["side"] == side]
        out[side] = {
            key: statistics.median(r[key] for r in mine) for key in ("wave1_seconds", "settled_seconds", "requests")
        }
    peer, ours = out[PEER], out[CONNECTOR]
    out["ratios"] = {key: round(ours[key] / peer[key], 2) if peer[key] else None for key in peer}
    out["goals"] = {
        "wave1 <= 1.0x": out["ratios"]["wave1_seconds"] is not None and out["ratios"]["wave1_seconds"] <= 1.0,
        "all waves <= 1.0x": out["ratios"]["settled_seconds"] is not None and out["ratios"]["settled_seconds"] <= 1.0,
        "requests <= 1.3x": out["ratios"]["requests"] is not None and out["ratios"]["requests"] <= 1.3,
    }
    return out


def write_results(args: argparse.Namespace, runs: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "pairs": args.pairs,
        "triggers": args.triggers,
        "tail_seconds": args.tail,
        "connector_flapping_rule": "shipped" if args.flapping else "disabled (site flapping.yaml)",
        "runs": runs,
        "summary": summary,
    }
    (RESULTS / f"{args.out}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [
        "# Storm: Zabbix → Redmine, Zabbix's own Redmine webhook vs the connector",
        "",
        f"{data['when']}; {args.pairs} pair(s) of {args.triggers} triggers (fire all → resolve half → re-fire "
        f"that half); requests counted until {args.tail:g} s after settling. Machine: {data['machine']['platform']}, "
        f"{data['machine']['cpus']} CPUs, load {data['machine']['load_average']} (shared).",
        "",
        "| pair | side | wave 1 drained (s) | all waves settled (s) | Redmine requests | issues (expected) "
        "| lost | doubled |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['pair']} | {r['side']} | {r['wave1_seconds']} | {r['settled_seconds']} | {r['requests']} | "
            f"{r['issues']} ({r['expected_issues']}) | {r['lost']} | {r['doubled']} |"
        )
    ratios = summary["ratios"]
    lines += [
        "",
        "| median | wave 1 (s) | settled (s) | requests |",
        "|---|---|---|---|",
    ]
    for side in (PEER, CONNECTOR):
        s = summary[side]
        lines.append(f"| {side} | {s['wave1_seconds']} | {s['settled_seconds']} | {s['requests']} |")
    lines.append(
        f"| ratio connector/peer | {ratios['wave1_seconds']} | {ratios['settled_seconds']} | {ratios['requests']} |"
    )
    lines += ["", "Goals: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in summary["goals"].items())]
    lines += ["", "Requests by call (last run of each side):", ""]
    for side in (PEER, CONNECTOR):
        last = [r for r in runs if r["side"] == side][-1]
        calls = ", ".join(f"{k} ×{v}" for k, v in last["by_call"].items())
        lines.append(f"- {side}: {calls}")
    connector_runs = [r for r in runs if r["side"] == CONNECTOR]
    if connector_runs:
        missing = sum(r.get("issues_missing_fields", 0) for r in connector_runs)
        lines += ["", f"Connector issues without their full field set: {missing}."]
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=4, help="interleaved runs of both sides (default 4)")
    parser.add_argument("--triggers", type=int, default=200, help="triggers in the storm (default 200)")
    parser.add_argument("--tail", type=float, default=70.0, help="seconds requests are still counted after settling")
    parser.add_argument("--timeout", type=float, default=900.0, help="longest wait for one wave (seconds)")
    parser.add_argument("--out", default="storm", help="result file stem in bench/results (default storm)")
    parser.add_argument("--flapping", action="store_true", help="keep the shipped flapping rule for the connector")
    args = parser.parse_args(argv)
    zabbix_env = read_env(Path(os.environ.get("ZABBIX_ENV", "/tmp/svc/zabbix/zabbix.env")))
    redmine_env = read_env(Path(os.environ.get("REDMINE_ENV", "/tmp/svc/redmine/redmine.env")))
    lab = ZabbixLab(zabbix_env)
    reader = RedmineReader(redmine_env)
    runs: list[dict[str, Any]] = []
    try:
        for pair in range(1, args.pairs + 1):
            order = (PEER, CONNECTOR) if pair % 2 else (CONNECTOR, PEER)
            for side in order:
                print(f"pair {pair}: {side} …", flush=True)
                result = run_side(
                    side, lab, reader, zabbix_env, redmine_env, args.triggers, args.tail, args.timeout, args.flapping
                )
                result["pair"] = pair
                runs.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "by_call"}), flush=True)
    finally:
        lab.cleanup()
    summary = summarize(runs)
    write_results(args, runs, summary)
    print(json.dumps(summary, indent=2))
    return 1 if any(r["lost"] or r["doubled"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
