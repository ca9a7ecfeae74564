# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Fleet overview
# How many FlowForge instances are active and how fast that changes, how many arrive and leave, how
# big they are, and what they run on. All dates are UTC; weeks start on Monday; the current,
# unfinished week is shaded.

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts, marts

ctx = charts.Context("01_fleet_overview", parquet_dir, start, end, min_count, chart_dir)

# %% [markdown]
# ## Active instances (1, 7 and 28-day windows)

# %%
ctx.show(charts.active_instances(ctx.mart("active_daily"), marts.growth_latest(ctx.parquet_dir)))

# %% [markdown]
# ## New and churned instances per week
# Churned: not seen for 28 days, counted in the week the 28 days ran out.

# %%
ctx.show(charts.new_and_churned(ctx.mart("fleet_weekly"), ctx.last_day, ctx.data_first_day))

# %% [markdown]
# ## Size of an instance

# %%
ctx.show(charts.fleet_size(ctx.mart("fleet_size_weekly"), ctx.last_day))

# %% [markdown]
# ## Operating system and architecture

# %%
platform = ctx.mart("platform_weekly")
ctx.show(charts.platform_share(ctx, platform, "os_arch", "Operating system / architecture"))

# %% [markdown]
# ## Node.js major lines

# %%
ctx.show(charts.nodejs_majors(ctx, platform, marts.reference("nodejs_releases")))
