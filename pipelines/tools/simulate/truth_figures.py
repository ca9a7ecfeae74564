"""Ground truth of the marts every page and the index quote (headlines, breakdowns, 12-month windows,
alert runs), in plain pandas over the simulated pings and the other truths (never the pipeline's SQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .fleet import Releases

#: FlowFuse's week-on-week growth bands: name, low, low included, high, high included (best first)
BANDS = [("exceptional", 0.06, True, None, False), ("strong", 0.04, True, 0.06, False),
         ("sustainable", 0.02, True, 0.04, False), ("okay", 0.01, False, 0.02, False),
         ("not acceptable", None, False, 0.01, True)]
WIDTHS = (1, 7, 28)
#: the categories every breakdown names at most (the rest is one more row)
NAMED = 7
#: version_lag labels by lag, and their order
LAG_LABELS = {"dev": ("dev builds", 6), "unknown": ("unknown", 7), "0": ("newest line", 1)}


def growth_bands() -> pd.DataFrame:
    """One row per band with its bounds."""
    out = pd.DataFrame(BANDS, columns=["band", "low", "low_inclusive", "high", "high_inclusive"])
    out.insert(0, "band_rank", pd.array(range(1, len(BANDS) + 1), dtype="int32"))
    return out.astype({"low": "float64", "high": "float64"})


def band(growth) -> str | None:
    """Return the band of a growth fraction by the BANDS table (None when unknown)."""
    if growth is None or pd.isna(growth):
        return None
    for name, low, low_in, high, high_in in BANDS:
        above = low is None or growth > low or (low_in and growth == low)
        below = high is None or growth < high or (high_in and growth == high)
        if above and below:
            return name
    return None


def _windows(days: pd.DataFrame, spine: pd.DatetimeIndex) -> pd.DataFrame:
    """Distinct instances seen in the 1/7/28 days ending each spine day, by brute force over sets."""
    seen = days.groupby("day")["instance_id"].apply(set).to_dict()
    rows = []
    for d in spine:
        window = [seen.get(d - pd.Timedelta(days=k), set()) for k in range(28)]
        rows.append([len(set().union(*window[:w])) for w in WIDTHS])
    return pd.DataFrame(rows, columns=[f"active_{w}d" for w in WIDTHS], index=spine)


def _change(series: pd.Series, back: int) -> pd.Series:
    """Return series / series `back` rows earlier - 1 (NaN when that is missing or 0)."""
    before = series.shift(back)
    return (series / before - 1).where(before > 0).astype("float64")


def headline_daily(days: pd.DataFrame, inst: pd.DataFrame) -> pd.DataFrame:
    """Active instances over 1/7/28 days, all and core, with the change on 7 days earlier; the days of data to
    each day and whether the 7- and 28-day windows lie wholly in the data."""
    spine = pd.date_range(days["day"].min(), days["day"].max(), freq="D")
    core_ids = set(inst.loc[~inst["excluded"], "instance_id"])
    every = _windows(days, spine)
    core = _windows(days[days["instance_id"].isin(core_ids)], spine).add_suffix("_core")
    out = pd.concat([every, core], axis=1)
    for w in WIDTHS:   # the window 7 days earlier must lie wholly within the data: from the first day + 6 + w on
        earlier_whole = out.index >= spine[0] + pd.Timedelta(days=6 + w)
        for col in (f"active_{w}d", f"active_{w}d_core"):
            out[f"{col}_change"] = _change(out[col], 7).where(earlier_whole)
    out["days_of_data"] = ((out.index - spine[0]).days + 1).astype("int32")   # the windows: whole from day w on
    out["whole_7d"], out["whole_28d"] = out["days_of_data"] >= 7, out["days_of_data"] >= 28
    out.index.name = "day"
    order = [f"active_{w}d" for w in WIDTHS] + [f"active_{w}d_core" for w in WIDTHS]
    return out.reset_index()[["day", *order, *[f"{c}_change" for c in order], "days_of_data", "whole_7d",
                              "whole_28d"]].astype({c: "int64" for c in order})


def _newest_lines(weeks: pd.Series, releases: Releases) -> pd.Series:
    """Return, per Monday, the newest minor line ('X.Y') released by its Sunday."""
    v = pd.Series(releases.versions)
    lines = pd.DataFrame({"minor": v.str.split(".").str[:2].str.join("."),
                          "key": v.str.split(".").str[0].astype(int) * 1000 + v.str.split(".").str[1].astype(int),
                          "released_on": pd.to_datetime(releases.days, unit="D")})
    first = lines.groupby(["minor", "key"])["released_on"].min().reset_index()
    return weeks.map(lambda w: first.loc[first["released_on"] <= w + pd.Timedelta(days=6)]
                     .sort_values("key")["minor"].iloc[-1])


def placeable(minor: pd.Series) -> pd.Series:
    """Return whether each 'X.Y' line can be placed among the releases: at most 6 major and 3 minor digits."""
    return minor.str.fullmatch(r"\d{1,6}\.\d{1,3}").fillna(False).astype(bool)


def _share_on_line_before(latest: pd.DataFrame, weeks: pd.Series, lines: pd.Series) -> pd.Series:
    """Per week, the share of the week before's instances on that week's newest line ('X.Y') or a newer one
    (not a development build); NaN when the week before has no instance."""
    known = latest[placeable(latest["version_minor"]) & ~latest["is_dev_build"]]
    parts = known["version_minor"].str.split(".")
    keys = parts.str[0].astype(int) * 1000 + parts.str[1].astype(int)
    out = []
    for week, line in zip(weeks, lines):
        before = week - pd.Timedelta(days=7)
        active = int((latest["week"] == before).sum())
        on = int(((known["week"] == before) & (keys >= _key(line))).sum())
        out.append(on / active if active else np.nan)
    return pd.Series(out, index=weeks.index, dtype="float64")


def _key(line: str) -> int:
    """Return major * 1000 + minor of an 'X.Y' line."""
    major, minor = line.split(".")[:2]
    return int(major) * 1000 + int(minor)


def _weekly_sums(latest: pd.DataFrame, ids: set | None, column: str) -> pd.Series:
    """Sum a count over each week's latest states (of the given instances), skipping unreported ones."""
    rows = latest if ids is None else latest[latest["instance_id"].isin(ids)]
    return rows.groupby("week")[column].sum(min_count=1)


def headline_weekly(growth: pd.DataFrame, latest: pd.DataFrame, inst: pd.DataFrame, lag: pd.DataFrame,
                    releases: Releases, data_start: pd.Timestamp, data_end: pd.Timestamp) -> pd.DataFrame:
    """Weekly active, growth and band, summed hosted and remote instances, newest line share; all and core.
    A week is complete when all its days lie from data_start to data_end; a change needs both weeks complete."""
    out = growth.rename(columns={"active": "weekly_active", "active_core": "weekly_active_core"}).copy()
    weeks = out["week"]
    core_ids = set(inst.loc[~inst["excluded"], "instance_id"])
    complete = (weeks >= data_start) & (weeks + pd.Timedelta(days=6) <= data_end)
    follows = (weeks.diff() == pd.Timedelta(days=7)) & complete & complete.shift(fill_value=False)
    for name, column in (("hosted_instances", "projects"), ("remote_instances", "devices")):
        every = weeks.map(_weekly_sums(latest, None, column))
        core = weeks.map(_weekly_sums(latest, core_ids, column)).fillna(0).where(every.notna())
        out[name], out[f"{name}_core"] = every, core
    for name in ("hosted_instances", "hosted_instances_core", "remote_instances", "remote_instances_core"):
        out[f"{name}_change"] = _change(out[name].astype("float64"), 1).where(follows)
    newest = lag[lag["lag"] == "0"].set_index("week")
    out["newest_line"] = _newest_lines(weeks, releases)
    out["newest_line_instances"] = weeks.map(newest["instances"]).fillna(0).astype("int64")
    out["newest_line_share"] = weeks.map(newest["share"]).fillna(0.0).astype("float64")
    before = _share_on_line_before(latest, weeks, out["newest_line"])
    out["newest_line_share_change"] = (out["newest_line_share"] - before).where(follows)
    out["complete"] = complete
    for name in ("hosted_instances", "hosted_instances_core", "remote_instances", "remote_instances_core"):
        out[name] = pd.array(out[name], dtype="Int64")
    return out[["week", "complete", "weekly_active", "weekly_active_core", "wow_growth", "wow_growth_core", "band",
                "band_core", "hosted_instances", "hosted_instances_core", "remote_instances", "remote_instances_core",
                "hosted_instances_change", "hosted_instances_core_change", "remote_instances_change",
                "remote_instances_core_change", "newest_line", "newest_line_instances", "newest_line_share",
                "newest_line_share_change"]]


def rolling_changes(changes: pd.DataFrame) -> pd.DataFrame:
    """Add added_90d and removed_90d: sums over the 90 days to each day, after the first week of data."""
    out = changes.copy()
    first = out["day"].min()
    first_full_week = first - pd.Timedelta(days=first.day_of_week) + pd.Timedelta(days=7)
    eligible = out["day"] - pd.Timedelta(days=89) >= first_full_week
    added = out["added"].rolling(90, min_periods=90).sum()
    removed = out["removed"].astype("float64").rolling(90, min_periods=90).sum()
    out["added_90d"] = pd.array(added.where(eligible), dtype="Int64")
    out["removed_90d"] = pd.array(removed.where(eligible & out["removed"].notna()), dtype="Int64")
    return out


def fleet_weekly(days: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Per week: active instances, added, and removed when every removal of the week is known."""
    monday = lambda d: d - pd.to_timedelta(d.dt.day_of_week, unit="D")  # noqa: E731
    weeks = pd.date_range(monday(days["day"]).min(), monday(days["day"]).max(), freq="7D")
    active = days.assign(week=monday(days["day"])).groupby("week")["instance_id"].nunique()
    c = changes.assign(week=monday(changes["day"]))
    known = c.groupby("week")["removed"].apply(lambda r: r.notna().all())
    removed = c.groupby("week")["removed"].sum().where(known)
    return pd.DataFrame({"week": weeks, "active": weeks.map(active).fillna(0).astype("int64"),
                         "added": weeks.map(c.groupby("week")["added"].sum()).astype("int64"),
                         "removed": pd.array(weeks.map(removed), dtype="Int64")})


def _by_size(rows: pd.DataFrame) -> pd.DataFrame:
    """Name the 7 values of a dimension with the most instances, the rest 'other'."""
    totals = rows.groupby(["dimension", "value"])["instances"].sum().reset_index()
    totals = totals.sort_values(["dimension", "instances", "value"], ascending=[True, False, True])
    totals["rank"] = totals.groupby("dimension").cumcount() + 1
    folded = totals["rank"] > NAMED
    totals["category"] = totals["value"].where(~folded, "other")
    totals["category_rank"] = totals["rank"].where(~folded, NAMED + 1)
    return rows.merge(totals[["dimension", "value", "category", "category_rank"]], on=["dimension", "value"])


def _line_ranks(versions: pd.DataFrame, releases: Releases) -> dict[str, int]:
    """Rank the released minor lines that non-dev versions ran, newest first."""
    released = {".".join(v.split(".")[:2]) for v in releases.versions}
    ran = set(versions.loc[~versions["version"].str.contains("-"), "version_minor"]) & released
    ordered = sorted(ran, key=lambda m: tuple(int(x) for x in m.split(".")), reverse=True)
    return {m: i + 1 for i, m in enumerate(ordered)}


def _version_rows(versions: pd.DataFrame, releases: Releases) -> pd.DataFrame:
    """The version_line rows (fixed labels) and the patch_version rows (to be named by size)."""
    ranks = _line_ranks(versions, releases)
    v = versions.assign(dev=versions["version"].str.contains("-"), line_rank=versions["version_minor"].map(ranks))
    named = v["line_rank"] <= 5
    category = np.select([v["dev"], v["version_minor"] == "unknown", named],
                         ["dev builds", "unknown", v["version_minor"]], "other lines")
    rank = np.select([v["dev"], v["version_minor"] == "unknown", named], [7, 8, v["line_rank"].fillna(0)], 6)
    lines = v.assign(dimension="version_line", value=v["version"], category=category, category_rank=rank)
    patches = v[~v["dev"] & (v["line_rank"] <= 3)].assign(dimension="patch_version", value=lambda d: d["version"])
    return lines, patches


def _lag_rows(lag: pd.DataFrame) -> pd.DataFrame:
    """The version_lag rows with their fixed labels and order."""
    def label(value: str) -> tuple[str, int]:
        if value in LAG_LABELS:
            return LAG_LABELS[value]
        return ("4+ behind", 5) if int(value) >= 4 else (f"{value} behind", int(value) + 1)
    labels = lag["lag"].map(label)
    return lag.assign(dimension="version_lag", value=lag["lag"], category=labels.str[0], category_rank=labels.str[1])


def breakdown_weekly(s: pd.DataFrame, lag: pd.DataFrame, releases: Releases, weekly_mix) -> pd.DataFrame:
    """Weekly instances and shares per dimension and category, at most 8 categories a dimension."""
    plain = pd.concat([
        weekly_mix(s, ["driver"]).rename(columns={"driver": "value"}).assign(dimension="driver"),
        weekly_mix(s, ["license_type"]).rename(columns={"license_type": "value"}).assign(dimension="license_type"),
        weekly_mix(s.assign(value=s["os_type"] + "/" + s["os_arch"]), ["value"]).assign(dimension="os_arch"),
        weekly_mix(s.assign(value=s["nodejs_major"].astype(str)), ["value"]).assign(dimension="nodejs_major"),
    ], ignore_index=True)
    lines, patches = _version_rows(weekly_mix(s, ["version", "version_minor"]), releases)
    sized = _by_size(pd.concat([plain, patches], ignore_index=True))
    cols = ["week", "dimension", "category", "category_rank", "value", "instances", "share"]
    rows = pd.concat([sized[cols], lines[cols], _lag_rows(lag)[cols]], ignore_index=True)
    out = rows.groupby(["week", "dimension", "category"]).agg(
        category_rank=("category_rank", "min"), categories=("value", "nunique"), instances=("instances", "sum"),
        share=("share", "sum")).reset_index()
    return out.astype({"category_rank": "int32", "categories": "int64", "instances": "int64"})[
        ["week", "dimension", "category", "category_rank", "categories", "instances", "share"]]


def _month(day: pd.Series) -> pd.Series:
    """Return the first day of each day's month."""
    return day.dt.to_period("M").dt.to_timestamp()


def transitions_monthly(days: pd.DataFrame) -> pd.DataFrame:
    """Changes of driver or licence type between consecutive reported instance-days, per month."""
    frames = []
    for dim in ("driver", "license_type"):
        d = days.loc[days[dim] != "unreported", ["instance_id", "day", dim]].sort_values(["instance_id", "day"])
        d = d.assign(from_value=d.groupby("instance_id")[dim].shift(), to_value=d[dim])
        c = d[d["from_value"].notna() & (d["from_value"] != d["to_value"])]
        counted = c.assign(month=_month(c["day"])).groupby(["month", "from_value", "to_value"])["instance_id"]
        frames.append(counted.nunique().rename("instances").reset_index().assign(dimension=dim))
    return pd.concat(frames, ignore_index=True)


def _spine_months(days: pd.DataFrame) -> pd.DatetimeIndex:
    """Every month from the first to the last with data."""
    return pd.date_range(_month(days["day"]).min(), _month(days["day"]).max(), freq="MS")


def _last_12(grid: pd.DataFrame, by: list[str], column: str) -> pd.Series:
    """Sum a column over each row's 12 months to it (the grid holds every month of every group)."""
    return grid.groupby(by)[column].transform(lambda x: x.rolling(12, min_periods=1).sum())


def changes_monthly(transitions: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """Changes per month, dimension and category (top 7 and 'other'), with 12-month sums and shares."""
    t = transitions
    trial = t[(t["dimension"] == "license_type") & (t["from_value"] == "TRIAL")]
    conversion = t[(t["dimension"] == "license_type") & (t["from_value"] == "CE") & (t["to_value"] == "EE")]
    rows = pd.concat([
        t.assign(value=t["from_value"] + " → " + t["to_value"]),
        trial.assign(dimension="trial_end", value=trial["to_value"]),
        conversion.assign(dimension="ce_to_ee", value="CE → EE"),
    ], ignore_index=True)
    labelled = _by_size(rows)
    monthly = labelled.groupby(["month", "dimension", "category"]).agg(
        categories=("value", "nunique"), instances=("instances", "sum"))
    cats = labelled.groupby(["dimension", "category"])["category_rank"].min().reset_index()
    grid = cats.merge(pd.DataFrame({"month": _spine_months(days)}), how="cross")
    grid = grid.join(monthly, on=["month", "dimension", "category"]).fillna({"categories": 0, "instances": 0})
    grid = grid.sort_values(["dimension", "category", "month"]).reset_index(drop=True)
    grid["dimension_changes"] = grid.groupby(["dimension", "month"])["instances"].transform("sum")
    grid["window_start"] = grid.groupby(["dimension", "category"])["month"].transform(
        lambda m: m.shift(11).fillna(m.iloc[0]))
    grid["changes_12m"] = _last_12(grid, ["dimension", "category"], "instances")
    grid["dimension_changes_12m"] = grid.groupby(["dimension", "month"])["changes_12m"].transform("sum")
    grid["share_12m"] = (grid["changes_12m"] / grid["dimension_changes_12m"]).where(grid["dimension_changes_12m"] > 0)
    ints = ["categories", "instances", "dimension_changes", "changes_12m", "dimension_changes_12m"]
    out = grid.astype({**{c: "int64" for c in ints}, "category_rank": "int32"})
    return out[["month", "dimension", "category", "category_rank", "categories", "instances", "dimension_changes",
                "window_start", "changes_12m", "dimension_changes_12m", "share_12m"]]


#: the upgrade-paths chart draws this many of the newest minor lines
DRAWN_LINES = 16


def upgrade_paths_12m(paths: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """Per month, the minor-line changes of the 12 months to it, its upgrade totals and the changes drawn."""
    months = _spine_months(days)
    frames = []
    for i, month in enumerate(months):
        window = paths[(paths["month"] > month - pd.DateOffset(months=12)) & (paths["month"] <= month)]
        if window.empty:
            continue
        g = window.groupby(["from_minor", "to_minor", "direction", "minors_skipped"])["instances"].sum()
        g = g.rename("changes").reset_index()
        ups = g.loc[g["direction"] == "up", "changes"].sum()
        skipping = g.loc[(g["direction"] == "up") & (g["minors_skipped"] > 0), "changes"].sum()
        newest = sorted(set(g["from_minor"]) | set(g["to_minor"]),
                        key=lambda line: (*(int(p) for p in line.split(".")), line), reverse=True)
        rank = {line: n for n, line in enumerate(newest, start=1)}
        g["from_rank"], g["to_rank"] = g["from_minor"].map(rank), g["to_minor"].map(rank)
        g["from_drawn"], g["to_drawn"] = g["from_rank"] <= DRAWN_LINES, g["to_rank"] <= DRAWN_LINES
        g["drawn"] = g["from_drawn"] & g["to_drawn"]
        frames.append(g.assign(month=month, window_start=months[max(0, i - 11)], upgrades=ups,
                               downgrades=g.loc[g["direction"] == "down", "changes"].sum(),
                               skipping_share=skipping / ups if ups else np.nan,
                               drawn_changes=g.loc[g["drawn"], "changes"].sum(),
                               lines_not_drawn=max(0, len(newest) - DRAWN_LINES)))
    out = pd.concat(frames, ignore_index=True).astype(
        {"changes": "int64", "upgrades": "int64", "downgrades": "int64", "skipping_share": "float64",
         "from_rank": "int64", "to_rank": "int64", "from_drawn": "bool", "to_drawn": "bool", "drawn": "bool",
         "drawn_changes": "int64", "lines_not_drawn": "int64"})
    return out[["month", "window_start", "from_minor", "to_minor", "direction", "minors_skipped", "changes",
                "upgrades", "downgrades", "skipping_share", "from_rank", "to_rank", "from_drawn", "to_drawn", "drawn",
                "drawn_changes", "lines_not_drawn"]]


#: the order of alert severities, the worst first
SEVERITY_RANK = {"critical": 1, "warning": 2, "info": 3}


def by_run(alerts: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Return the alerts sorted by check, subject and day, and each one's run (the same number for one check
    and subject on consecutive days)."""
    a = alerts.sort_values(["check", "subject", "checked_day"]).reset_index(drop=True)
    day = pd.to_datetime(a["checked_day"])
    new_run = (a["check"] != a["check"].shift()) | (a["subject"] != a["subject"].shift()) | (
        day - day.shift() != pd.Timedelta(days=1))
    return a, new_run.cumsum()


def alert_runs(alerts: pd.DataFrame, data_end: pd.Timestamp) -> pd.DataFrame:
    """Runs of one check and subject on consecutive days, with their worst severity and last day's value."""
    a, run = by_run(alerts)
    a["run"] = run
    a["severity_rank"] = a["severity"].map(SEVERITY_RANK)
    g = a.groupby("run")
    last = g.tail(1).set_index("run")
    out = pd.DataFrame({"check": last["check"], "subject": last["subject"], "first_day": g["checked_day"].min(),
                        "last_day": last["checked_day"], "days": g.size(),
                        "severity": g["severity_rank"].min().map({1: "critical", 2: "warning", 3: "info"}),
                        "value": last["value"], "expected_low": last["expected_low"],
                        "expected_high": last["expected_high"], "severity_rank": g["severity_rank"].min()})
    out["is_open"] = out["last_day"] >= data_end
    out = out.sort_values(["check", "is_open", "severity_rank", "days", "value", "subject", "first_day"],
                          ascending=[True, True, True, False, False, True, False])
    out["rank_in_check"] = out.groupby(["check", "is_open"]).cumcount() + 1
    out["runs_in_check"] = out.groupby(["check", "is_open"])["subject"].transform("size")
    return out.drop(columns="severity_rank").astype({"days": "int64", "rank_in_check": "int64",
                                                     "runs_in_check": "int64"}).reset_index(drop=True)


def pings_per_instance_day(days: pd.DataFrame) -> pd.DataFrame:
    """Instance-days by their number of pings, with their share of every instance-day."""
    out = days["pings"].value_counts().sort_index().rename("instance_days").reset_index()
    out.columns = ["pings", "instance_days"]
    out["share"] = out["instance_days"] / out["instance_days"].sum()
    return out.astype({"pings": "int64", "instance_days": "int64"})


def calendar_months(days: pd.DataFrame) -> pd.DataFrame:
    """Every month from the first to the last with data: its days in the data, and whether all its days are."""
    first, last = days["day"].min(), days["day"].max()
    spine = pd.Series(pd.date_range(first, last, freq="D"))
    out = spine.groupby(_month(spine)).size().rename("days_of_data").rename_axis("month").reset_index()
    out["complete"] = (out["month"] >= first) & (out["month"] + pd.offsets.MonthEnd(0) <= last)
    return out.astype({"days_of_data": "int32"})


def data_freshness(s: pd.DataFrame) -> pd.DataFrame:
    """The first and last day with data, the last ping and the instances ever seen."""
    return pd.DataFrame({"first_day": [s["day"].min()], "last_day": [s["day"].max()],
                         "last_ping_at": [s["received_at"].max()], "instances": [s["instance_id"].nunique()]})


def compute(s, days, inst, growth, latest, lag, paths, alerts, releases, weekly_mix) -> dict:
    """Return the truth of every figure mart by name, from the pings and the other marts' truths."""
    data_end = days["day"].max()
    return {
        "growth_bands": growth_bands(),
        "headline_daily": headline_daily(days, inst),
        "headline_weekly": headline_weekly(growth, latest, inst, lag, releases, days["day"].min(), data_end),
        "breakdown_weekly": breakdown_weekly(s, lag, releases, weekly_mix),
        "changes_monthly": changes_monthly(transitions_monthly(days), days),
        "upgrade_paths_12m": upgrade_paths_12m(paths, days),
        "alert_runs": alert_runs(alerts, data_end),
        "pings_per_instance_day": pings_per_instance_day(days),
        "data_freshness": data_freshness(s),
        "calendar_months": calendar_months(days),
    }
