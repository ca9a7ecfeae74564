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
# big they are, and what they run on. All dates are UTC; weeks start on Monday.

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show; every figure describes it (None: the last day with data)
parquet_dir = None  # marts folder (None: the settings' parquet_dir: the demo's, or your sources')
audience = None     # "team" (every count) or "public" (counts under min_count hidden); None: the settings
min_count = None    # k of the public audience (None: the settings, default 5)
chart_dir = None    # None in JupyterLab; `make report` sets it (charts as report HTML, their CSV here)

# %%
from pipelines.publish.context import Context
from pipelines.publish.pages import fleet

ctx = Context("01_fleet_overview", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Active instances

# %%
ctx.show(fleet.active_instances(ctx))

# %% [markdown]
# ## Added and removed per week

# %%
ctx.show(fleet.added_and_removed(ctx))

# %% [markdown]
# ## Size of an instance

# %%
ctx.show(fleet.fleet_size(ctx))

# %% [markdown]
# ## Operating system and architecture

# %%
ctx.show(fleet.platform(ctx, "os_arch", "Operating system / architecture", "platform_os_arch"))

# %% [markdown]
# ## Node.js major lines

# %%
ctx.show(fleet.nodejs(ctx))
