# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Container drivers
# How instances run their Node-RED projects (localfs, docker, kubernetes) and who moved between them.

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show; every figure describes it (None: the last day with data)
parquet_dir = None  # marts folder (None: the settings' parquet_dir: the demo's, or your sources')
audience = None     # "team" (every count) or "public" (counts under min_count hidden); None: the settings
min_count = None    # k of the public audience (None: the settings, default 5)
chart_dir = None    # None in JupyterLab; `make report` sets it (charts as report HTML, their CSV here)

# %%
from pipelines.publish.context import Context
from pipelines.publish.pages import mix

ctx = Context("03_driver_mix", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Share of weekly active instances

# %%
ctx.show(mix.shares(ctx, "driver", "Container driver", "driver_share"))

# %% [markdown]
# ## Instances per driver

# %%
ctx.show(mix.counts(ctx, "driver", "Container driver", "driver_counts"))

# %% [markdown]
# ## Instances that changed driver

# %%
ctx.show(mix.changes(ctx, "driver", "driver", "driver_changes"))
