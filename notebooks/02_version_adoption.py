# %% [markdown]
# # Version adoption
# Which FlowForge versions the fleet runs, how fast each minor release is taken up, and who runs
# development builds. Shares are of the instances active in each week (UTC, starting Monday).

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV
top_n = 8           # minor lines shown by name; the rest are "other"

# %%
from pipelines.publish import charts, marts

ctx = charts.Context("02_version_adoption", parquet_dir, start, end, min_count, chart_dir)
adoption = ctx.mart("version_adoption_weekly")

# %% [markdown]
# ## Minor lines over time

# %%
ctx.show(charts.version_lines(ctx, adoption, marts.reference("flowforge_releases"), top_n))

# %% [markdown]
# ## Patch versions of the newest lines

# %%
ctx.show(charts.patch_mix(ctx, adoption))

# %% [markdown]
# ## Upgrade velocity
# Days from each minor release until 25, 50 and 75% of weekly active instances ran it or newer
# (measured at the end of the first week that reached the share; missing bars: not reached yet).

# %%
ctx.show(charts.release_uptake(ctx.mart("release_uptake")))

# %% [markdown]
# ## Development builds

# %%
ctx.show(charts.dev_builds(adoption, ctx.last_day))
