# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Licence types
# CE (unlicensed), EE, DEV and TRIAL licences over time, trials and what they became, and CE to EE
# conversions; "unreported" are versions from before the licence was sent. Licence ids never appear.

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

ctx = Context("04_license_types", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Share of weekly active instances

# %%
ctx.show(mix.shares(ctx, "license_type", "Licence type", "license_share"))

# %% [markdown]
# ## Instances per licence type

# %%
ctx.show(mix.counts(ctx, "license_type", "Licence type", "license_counts"))

# %% [markdown]
# ## Trials that ended, and what they became

# %%
ctx.show(mix.trials_ended(ctx))

# %% [markdown]
# ## CE to EE conversions

# %%
ctx.show(mix.conversions(ctx))
