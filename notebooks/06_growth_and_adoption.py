# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Growth and adoption
# Week-on-week growth against FlowFuse's bands, instances added and removed per day, the summed
# hosted and remote instances, and which features instances use, for the whole fleet and by licence
# type. "Core" leaves out excluded instances (development builds, one-day instances, clones).

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts

ctx = charts.Context("06_growth_and_adoption", parquet_dir, start, end, min_count, chart_dir)
growth = ctx.optional("growth_weekly")
features = ctx.optional("feature_adoption_weekly")

# %% [markdown]
# ## Week-on-week growth

# %%
ctx.show(charts.growth_bands(ctx, growth))

# %% [markdown]
# ## Weekly active instances, all and core

# %%
ctx.show(charts.active_all_core(ctx, growth))

# %% [markdown]
# ## Instances added and removed per day

# %%
ctx.show(charts.fleet_changes(ctx, ctx.optional("fleet_changes_daily")))

# %% [markdown]
# ## Hosted and remote instances

# %%
ctx.show(charts.fleet_totals(ctx, ctx.optional("fleet_totals_weekly")))

# %% [markdown]
# ## Feature adoption

# %%
ctx.show(charts.feature_adoption(ctx, features))

# %% [markdown]
# ## Feature adoption by licence type

# %%
ctx.show(charts.feature_by_license(ctx, features))
