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
end = None          # last UTC day to show; every figure describes it (None: the last day with data)
parquet_dir = None  # marts folder (None: the settings' parquet_dir: the demo's, or your sources')
audience = None     # "team" (every count) or "public" (counts under min_count hidden); None: the settings
min_count = None    # k of the public audience (None: the settings, default 5)
chart_dir = None    # None in JupyterLab; `make report` sets it (charts as report HTML, their CSV here)

# %%
from pipelines.publish.context import Context
from pipelines.publish.pages import retention

ctx = Context("07_retention_and_upgrades", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Retention by monthly cohort

# %%
ctx.show(retention.retention(ctx))

# %% [markdown]
# ## Upgrade paths between minor lines

# %%
ctx.show(retention.upgrade_paths(ctx))

# %% [markdown]
# ## Version lag

# %%
ctx.show(retention.version_lag(ctx))
