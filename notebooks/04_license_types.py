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
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV

# %%
from pipelines.publish import charts

ctx = charts.Context("04_license_types", parquet_dir, start, end, min_count, chart_dir)
mix = ctx.mart("license_mix_weekly")
changes = ctx.mart("transitions_monthly")

# %% [markdown]
# ## Share of weekly active instances

# %%
ctx.show(charts.mix_share(ctx, mix, "license_type", "Licence type share", "license_share"))

# %% [markdown]
# ## Instances per licence type

# %%
ctx.show(charts.mix_counts(ctx, mix, "license_type", "Instances per licence type", "license_counts"))

# %% [markdown]
# ## Trials that ended, and what they became

# %%
ctx.show(charts.trials_ended(ctx, changes))

# %% [markdown]
# ## CE to EE conversions

# %%
ctx.show(charts.conversions(ctx, changes))
