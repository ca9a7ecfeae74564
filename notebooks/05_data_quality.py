# %% [markdown]
# # Data quality
# What was loaded from where, what was quarantined and why, what waits for its writer, and the
# oddities of real pings: cloned instanceIds and restarts.

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts

ctx = charts.Context("05_data_quality", parquet_dir, start, end, min_count, chart_dir)

# %% [markdown]
# ## Pings per source and day

# %%
ctx.show(charts.rows_per_source(ctx.mart("source_daily")))

# %% [markdown]
# ## Quarantine reasons over time

# %%
ctx.show(charts.quarantine_reasons(ctx.mart("quarantine_daily")))

# %% [markdown]
# ## Sources, pending tails and files in trouble

# %%
ctx.show(charts.source_table(ctx.mart("source_status")))

# %% [markdown]
# ## Cloned instanceIds (several IP hashes on one day)

# %%
ctx.show(charts.clones(ctx.mart("clones_daily")))

# %% [markdown]
# ## Pings per instance-day

# %%
ctx.show(charts.pings_per_day(ctx.mart("pings_per_instance_day")))
