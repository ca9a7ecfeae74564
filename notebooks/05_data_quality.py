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
# files in trouble; the alerts, repeats grouped; new payload keys; quarantined rows by reason; and the
# oddities of real pings (cloned instanceIds, restarts).

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show; every figure describes it (None: the last day with data)
parquet_dir = None  # marts folder (None: the settings' parquet_dir: the demo's, or your sources')
audience = None     # "team" (every count) or "public" (counts under min_count hidden); None: the settings
min_count = None    # k of the public audience (None: the settings, default 5)
chart_dir = None    # None in JupyterLab; `make report` sets it (charts as report HTML, their CSV here)

# %%
from pipelines.publish.context import Context
from pipelines.publish.pages import quality

ctx = Context("05_data_quality", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Sources
# Per source: rows read = loaded + duplicates + quarantined + pending (torn final lines waiting for
# their writer). Last load in UTC.

# %%
ctx.table(quality.sources(ctx), "sources", empty="No source has been loaded yet.")

# %% [markdown]
# ## Files in trouble
# Only files or tables that changed after loading, failed, or wait on a torn final line.

# %%
trouble, more = quality.files_in_trouble(ctx)
ctx.table(trouble, "files_in_trouble", more=more,
          empty="No file is in trouble: every file was read to its end and none changed after loading.")

# %% [markdown]
# ## Alerts
# Checks on the data: pings per day against the same weekday, stale sources, quarantine share, a drop
# in active instances, new payload keys. The last 90 days of the range; a check firing on consecutive
# days for one subject is one row; "open": it fired on the last day, "ended": it stopped before.

# %%
alerts, more = quality.alerts(ctx)
ctx.table(alerts, "alerts", more=more, empty="No alert was raised in the last 90 days of the range.")

# %% [markdown]
# ## New payload keys
# Keys any ping carried for the first time in the last 90 days of the range, known to the pipeline or not.

# %%
keys, more = quality.new_payload_keys(ctx)
ctx.table(keys, "new_payload_keys", more=more,
          empty="No payload key appeared for the first time in the last 90 days of the range.")

# %% [markdown]
# ## Quarantined rows by reason
# By the row's own time; rows with no readable time (or one outside the data) are listed below by the
# day they were loaded.

# %%
ctx.show(quality.quarantine(ctx))

# %% [markdown]
# ### Quarantined rows without a time in the data
# Rows with no readable time, by the UTC day they were loaded, and rows whose own time lies outside the
# data, by that day.

# %%
ctx.table(quality.quarantine_untimed(ctx), "quarantine_no_time", empty="Every quarantined row had a readable time.")

# %% [markdown]
# ## Pings per source

# %%
ctx.show(quality.rows_per_source(ctx))

# %% [markdown]
# ## Cloned instanceIds (several IP hashes on one day)

# %%
ctx.show(quality.clones(ctx))

# %% [markdown]
# ## Pings per instance-day

# %%
ctx.show(quality.pings_per_day(ctx))
