# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Data quality
# Every source: what was read, loaded, deduplicated, quarantined and what waits for its writer; the
# files in trouble; quarantined rows by reason; the alerts and new payload keys; and the oddities of
# real pings (cloned instanceIds, restarts).

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts

ctx = charts.Context("05_data_quality", parquet_dir, start, end, min_count, chart_dir)
status = ctx.mart("source_status")

# %% [markdown]
# ## Sources
# Per source: rows read = loaded + duplicates + quarantined + pending (torn final lines waiting for
# their writer). Last load in UTC.

# %%
ctx.table(charts.source_summary(status), "sources", empty="No source has been loaded yet.")

# %% [markdown]
# ## Files in trouble
# Only files or tables that changed after loading, failed, or wait on a torn final line.

# %%
ctx.table(charts.files_in_trouble(status), "files_in_trouble",
          empty="No file is in trouble: every file was read to its end and none changed after loading.")

# %% [markdown]
# ## Alerts
# Checks on the data: pings per day against the same weekday, stale sources, quarantine share, a drop
# in active instances, new payload keys. The last 28 days of data; "open": raised on the last day.

# %%
alerts = ctx.optional("alerts")
missing = "The alerts mart is not in this parquet set yet: run `make refresh` with the current version."
ctx.table(charts.recent_alerts(alerts, ctx.last_day), "alerts_recent",
          empty="No alert was raised in the last 28 days of data." if alerts is not None else missing)

# %% [markdown]
# All alerts in the date range, per check.

# %%
ctx.table(charts.alerts_by_check(alerts), "alerts_by_check",
          empty="No alert was raised in this date range." if alerts is not None else missing)

# %% [markdown]
# ## New payload keys
# Keys any ping carried for the first time in the last 90 days of data, known to the pipeline or not.

# %%
keys = ctx.optional("payload_keys")
ctx.table(charts.new_payload_keys(keys, ctx.last_day, k=ctx.min_count), "new_payload_keys",
          empty="No payload key appeared for the first time in the last 90 days." if keys is not None else
          "The payload_keys mart is not in this parquet set yet: run `make refresh` with the current version.")

# %% [markdown]
# ## Quarantined rows by reason
# Per week by the row's own time, each reason on its own scale so a handful of rows stays visible.
# Rows with no readable time are counted apart, below.

# %%
quarantined = ctx.mart("quarantine_daily")
ctx.show(charts.quarantine_reasons(quarantined, ctx.first_day, ctx.last_day))
ctx.table(charts.quarantine_split(quarantined, ctx.first_day, ctx.last_day)[1], "quarantine_no_time",
          empty="Every quarantined row had a readable time.")

# %% [markdown]
# ## Pings per source

# %%
ctx.show(charts.rows_per_source(ctx.mart("source_daily"), ctx.last_day))

# %% [markdown]
# ## Cloned instanceIds (several IP hashes on one day)

# %%
ctx.show(charts.clones(ctx, ctx.mart("clones_daily")))

# %% [markdown]
# ## Pings per instance-day

# %%
ctx.show(charts.pings_per_day(ctx.mart("pings_per_instance_day")))
