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
end = None          # last UTC day to show; every figure describes it (None: the last day with data)
parquet_dir = None  # marts folder (None: the settings' parquet_dir: the demo's, or your sources')
audience = None     # "team" (every count) or "public" (counts under min_count hidden); None: the settings
min_count = None    # k of the public audience (None: the settings, default 5)
chart_dir = None    # None in JupyterLab; `make report` sets it (charts as report HTML, their CSV here)

# %%
from pipelines.publish.context import Context
from pipelines.publish.pages import growth

ctx = Context("06_growth_and_adoption", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Week-on-week growth

# %%
ctx.show(growth.growth_bands(ctx))

# %% [markdown]
# ## Weekly active instances, all and core

# %%
ctx.show(growth.active_all_core(ctx))

# %% [markdown]
# ## Instances added and removed per day

# %%
ctx.show(growth.fleet_changes(ctx))

# %% [markdown]
# ## Hosted and remote instances

# %%
ctx.show(growth.fleet_totals(ctx))

# %% [markdown]
# ## Feature adoption

# %%
ctx.show(growth.feature_adoption(ctx))

# %% [markdown]
# ## Feature adoption by licence type

# %%
ctx.show(growth.feature_by_license(ctx))
