"""Helpers for the report tests: run a report from the command line, open pages in headless Chromium,
read what a page shows, check figures.json against the pages and against independent truth."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conftest import TEST_KEY, require

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # the network is blocked: every host resolves to nothing and every proxy request fails
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=20000",
]
#: figures.json ids every report has (issue 23)
REQUIRED_IDS = {"active_1d", "active_7d", "active_28d", "weekly_active", "hosted_instances", "remote_instances",
                "newest_line", "newest_line_share", "added", "removed"}


def environment(base: Path, sources: list[Path] | None, **extra: str) -> dict:
    """Return the PINGS_* environment of a test report: its data and reports folders, key and sources."""
    env = {"PINGS_SETTINGS": os.devnull, "PINGS_DATA_DIR": str(base / "data"),
           "PINGS_IP_HASH_KEY": TEST_KEY, "PINGS_REPORTS_DIR": str(base / "reports"), **extra}
    if sources:
        env["PINGS_SOURCES"] = ",".join(str(s) for s in sources)
    return env


def report_cli(env: dict, *args: str) -> int:
    """Run `python -m pipelines report ARGS` in this process under exactly these PINGS_* variables."""
    from pipelines.__main__ import main

    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("PINGS_") and v != "PINGS_REQUIRE_ALL"]:
            mp.delenv(var)
        for var, value in env.items():
            mp.setenv(var, value)
        return main(["report", *args])


def chromium() -> str:
    """Return the Chromium binary (Debian's /usr/bin/chromium), or skip/fail via require()."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        require("Chromium", "Debian package chromium")
    return found


def render(page: Path, profile: Path, *flags: str) -> tuple[str, list[str]]:
    """Open a page in headless Chromium with the network blocked; return (DOM after scripts, page requests).

    Page requests are the net-log's URL requests that a page initiated (Chromium's own background
    requests carry the initiator 'not an origin') to anything but file: and data: URLs.
    """
    netlog = profile / "net.json"
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, *flags, f"--user-data-dir={profile}", f"--log-net-log={netlog}",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180,
    ).stdout
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    starts = [e.get("params", {}) for e in log["events"] if e["type"] == start_job]
    requests = [p["url"] for p in starts if "url" in p and p.get("initiator") != "not an origin"
                and not p["url"].startswith(("file:", "data:"))]
    return dom, requests


class Browser:
    """Headless Chromium driven over its DevTools pipe (fds 3 and 4; no extra package), network blocked: opens
    pages at a real emulated viewport width (the window's own minimum is 500 px) and evaluates JavaScript."""

    def __init__(self, profile: Path):
        ours_in, theirs_out = os.pipe()     # Chromium writes replies on its fd 4
        theirs_in, ours_out = os.pipe()     # and reads commands on its fd 3

        def pipes():
            os.dup2(theirs_in, 3)
            os.dup2(theirs_out, 4)

        flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time")]
        self.proc = subprocess.Popen([chromium(), *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
                                     preexec_fn=pipes, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(theirs_in), os.close(theirs_out)
        self.reader, self.writer = os.fdopen(ours_in, "rb"), os.fdopen(ours_out, "wb")
        self.ids, self.session, self.events = 0, None, []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")

    def call(self, method: str, **params):
        """Send one DevTools command (to the page once attached) and return its result."""
        self.ids += 1
        message = {"id": self.ids, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self.writer.write(json.dumps(message).encode() + b"\0")
        self.writer.flush()
        while True:
            reply = self._read()
            if reply.get("id") == self.ids:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply.get("method"))

    def _read(self) -> dict:
        """Read one NUL-terminated message from Chromium."""
        chunks = []
        while (byte := self.reader.read(1)) not in (b"\0", b""):
            chunks.append(byte)
        if not chunks:
            raise RuntimeError("Chromium closed its DevTools pipe")
        return json.loads(b"".join(chunks))

    def open(self, page: Path, width: int, height: int = 900) -> None:
        """Load a page at this viewport width (a phone's when under 700) and wait until every chart is drawn."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 700)
        self.events.clear()
        self.call("Page.navigate", url=page.as_uri())
        while "Page.loadEventFired" not in self.events:
            self.events.append(self._read().get("method"))
        self.evaluate("new Promise(r => setTimeout(r, 500))")

    def evaluate(self, expression: str):
        """Return the value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def close(self) -> None:
        """Close the browser."""
        try:
            self.session = None
            self.call("Browser.close")
        finally:
            self.proc.wait(timeout=30)


def visible_text(page: Path) -> str:
    """Return what a page prints as text: tags dropped, scripts and styles left out, entities decoded."""
    text = page.read_text()
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def figures_of(folder: Path) -> list[dict]:
    """Return a report's figures.json entries."""
    return json.loads((folder / "figures.json").read_text())


def assert_figures_consistent(folder: Path) -> dict[str, object]:
    """Assert every quoted figure is printed on its page and each id has one value; return value by id."""
    entries = figures_of(folder)
    assert entries and all(set(e) == {"id", "page", "value", "text", "as_of"} for e in entries)
    texts = {}
    for entry in entries:
        page = folder / entry["page"]
        shown = texts.setdefault(page, visible_text(page))
        assert entry["text"] in shown, f"{entry['id']}: {entry['text']!r} is not on {entry['page']}"
        assert entry["value"] is None or isinstance(entry["value"], (int, float, str)), entry
    values: dict[str, set] = {}
    for entry in entries:
        values.setdefault(entry["id"], set()).add((json.dumps(entry["value"]), entry["text"], entry["as_of"]))
    several = {i: v for i, v in values.items() if len(v) > 1}
    assert several == {}, f"ids with more than one value: {several}"
    assert REQUIRED_IDS <= set(values), REQUIRED_IDS - set(values)
    return {i: json.loads(next(iter(v))[0]) for i, v in values.items()}


def truth_figures(truth: Path, as_of: str) -> dict[str, object]:
    """Return the headline figures as of a day, read from the simulator's independent truth tables."""
    day = pd.Timestamp(as_of)
    daily = pd.read_parquet(truth / "headline_daily.parquet")
    row = daily[pd.to_datetime(daily["day"]) == day].iloc[0]
    weekly = pd.read_parquet(truth / "headline_weekly.parquet")   # the last complete week ended by the day
    weekly = weekly[weekly["complete"] & (pd.to_datetime(weekly["week"]) + pd.Timedelta(days=6) <= day)]
    week = weekly.sort_values("week").iloc[-1]
    changes = pd.read_parquet(truth / "fleet_changes_daily.parquet")
    changes = changes[(pd.to_datetime(changes["day"]) <= day) & changes["removed_90d"].notna()].iloc[-1]
    months = pd.read_parquet(truth / "calendar_months.parquet")   # the last complete month ended by the day
    months = months[months["complete"] & (pd.to_datetime(months["month"]) + pd.offsets.MonthEnd(0) <= day)]
    month = pd.Timestamp(months["month"].max())
    paths = pd.read_parquet(truth / "upgrade_paths_12m.parquet")
    paths = paths[pd.to_datetime(paths["month"]) == month]
    found = {"active_1d": int(row["active_1d"]), "active_7d": int(row["active_7d"]),
             "active_28d": int(row["active_28d"]), "weekly_active": int(week["weekly_active"]),
             "newest_line": week["newest_line"], "newest_line_share": float(week["newest_line_share"]),
             "added": int(changes["added_90d"]), "removed": int(changes["removed_90d"]),
             "upgrades_12m": int(paths["upgrades"].iloc[0]), "downgrades_12m": int(paths["downgrades"].iloc[0])}
    cohorts = pd.read_parquet(truth / "retention_day28.parquet")
    cohorts = cohorts[(pd.to_datetime(cohorts["whole_from"]) <= day) & (cohorts["eligible"] > 0)]
    if len(cohorts):   # the latest cohort every member of which was 28 days old by the day
        found["retained_day_28_share"] = float(cohorts.sort_values("cohort_month")["share"].iloc[-1])
    if paths["lines_not_drawn"].iloc[0] > 0:   # the chart says what its drawn cells add up to
        found["upgrade_paths_drawn_changes_12m"] = int(paths["drawn_changes"].iloc[0])
    return found


def assert_equal_truth(found: dict, truth: dict) -> None:
    """Assert the report's figures equal the truth's (shares to 1e-9)."""
    for key, want in truth.items():
        got = found[key]
        if isinstance(want, float):
            assert abs(got - want) < 1e-9, (key, got, want)
        else:
            assert got == want, (key, got, want)


#: how a CSV writes a count hidden only to protect a smaller one
WITHHELD = "hidden"


def possible_values(texts: list, total: int, k: int) -> list[set[int]]:
    """Return, per hidden cell of a partition as a reader sees it ('< k', 'hidden' or a count; the partition's
    total), the values it could hold: 1 .. k-1 for '< k', k or more for 'hidden', all adding up to the total."""
    shown = sum(int(t) for t in texts if t not in (f"< {k}", WITHHELD))
    left = total - shown
    bounds = [(1, k - 1) if t == f"< {k}" else (k, left) for t in texts if t in (f"< {k}", WITHHELD)]
    out = []
    for i, (lo, hi) in enumerate(bounds):
        rest_lo = sum(b[0] for j, b in enumerate(bounds) if j != i)
        rest_hi = sum(b[1] for j, b in enumerate(bounds) if j != i)
        out.append({v for v in range(lo, hi + 1) if rest_lo <= left - v <= rest_hi})
    return out


def pinned_breakdown_cells(folder: Path, k: int) -> list[str]:
    """Return the hidden cells of a report's breakdown CSVs (week, category, instances, share: every category of the
    week, so they add up to its active instances) that a reader could work out: the week's total is a shown count
    over its share, less the shown counts it leaves the hidden cells' sum."""
    pinned = []
    for csv in sorted((folder / "data").glob("*.csv")):
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
        if list(df.columns) != ["week", "category", "instances", "share"] or csv.name.endswith("patch_mix.csv"):
            continue                  # patch versions: the 3 newest lines only, their shares of all active instances
        for week, part in df.groupby("week"):
            texts = [t if t in (f"< {k}", WITHHELD) else int(t) for t in part["instances"]]
            known = part[~part["instances"].isin([f"< {k}", WITHHELD]) & (part["share"] != "0.0")]
            if f"< {k}" not in texts or known.empty:
                continue
            total = round(int(known["instances"].iloc[0]) / float(known["share"].iloc[0]))
            hidden = [c for c, t in zip(part["category"], texts) if t in (f"< {k}", WITHHELD)]
            pinned += [f"{csv.name} {week} {c}" for c, v in zip(hidden, possible_values(texts, total, k)) if len(v) < 2]
    return pinned


def pinned_days(daily: pd.DataFrame, weekly: pd.DataFrame, k: int) -> list[str]:
    """Return the hidden cells of page 06's daily added and removed (rows as written to its CSV) that a reader could
    work out from page 01's weekly bars (its CSV's rows), each the sum of its week's days (weeks the daily chart
    holds from their Monday)."""
    daily, weekly = [df.astype(object).where(df.notna(), "").astype(str) for df in (daily, weekly)]
    weekly = weekly.assign(week=pd.to_datetime(weekly["week"]).dt.strftime("%Y-%m-%d")).set_index("week")
    days = pd.to_datetime(daily["day"])
    daily["week"] = (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    whole = days >= days.min() + pd.Timedelta(days=(7 - days.min().day_of_week) % 7)
    pinned = []
    for column in ("added", "removed"):
        for week, part in daily[whole].groupby("week"):
            total = weekly[column].get(week, "")
            if total in ("", f"< {k}", WITHHELD) or (part[column] == "").any():
                continue
            texts = [t if t in (f"< {k}", WITHHELD) else int(float(t)) for t in part[column]]
            if f"< {k}" in texts:
                pinned += [f"{week} {column}" for v in possible_values(texts, int(float(total)), k) if len(v) < 2]
    return pinned
