# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Retention and upgrades
# How many new instances stay, how instances move between minor lines (upgrades, skipped lines,
# downgrades), and how far behind the newest release the fleet runs.

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts

ctx = charts.Context("07_retention_and_upgrades", parquet_dir, start, end, min_count, chart_dir)

# %% [markdown]
# ## Retention by monthly cohort

# %%
ctx.show(charts.retention_heatmap(ctx, ctx.optional("retention_cohorts"), ctx.optional("retention_day28")))

# %% [markdown]
# ## Upgrade paths between minor lines

# %%
ctx.show(charts.upgrade_paths(ctx, ctx.optional("upgrade_paths_monthly")))

# %% [markdown]
# ## Version lag

# %%
ctx.show(charts.version_lag(ctx, ctx.optional("version_lag_weekly")))
