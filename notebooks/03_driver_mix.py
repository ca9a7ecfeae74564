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
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts

ctx = charts.Context("03_driver_mix", parquet_dir, start, end, min_count, chart_dir)
mix = ctx.mart("driver_mix_weekly")

# %% [markdown]
# ## Share of weekly active instances

# %%
ctx.show(charts.mix_share(ctx, mix, "driver", "Container driver share", "driver_share"))

# %% [markdown]
# ## Instances per driver

# %%
ctx.show(charts.mix_counts(ctx, mix, "driver", "Instances per container driver", "driver_counts"))

# %% [markdown]
# ## Instances that changed driver

# %%
ctx.show(charts.transitions(ctx, ctx.mart("transitions_monthly"), "driver", "Driver changes",
                            "driver_changes", "changed driver"))
