# ---
# jupyter:
#   kernelspec:
#     display_name: Python (flowforge-pings)
#     language: python
#     name: flowforge-pings
# ---

# %% [markdown]
# # Version adoption
# What the fleet runs now and how fast it moves to a new release: the newest minor lines by name,
# upgrade velocity, patch versions and development builds. Shares are of the instances active in
# each week (UTC, starting Monday).

# %% tags=["parameters"]
start = None        # first UTC day to show, "YYYY-MM-DD" (None: all)
end = None          # last UTC day to show (None: all)
parquet_dir = None  # marts folder (None: PINGS_PARQUET_DIR or data/parquet)
min_count = 0       # reports fold categories under this many instances into "other"
chart_dir = None    # reports write each chart's data here as CSV
named_lines = 8     # the newest minor lines shown by name; older lines are grouped by major
weeks = 52          # the minor-lines chart shows this many recent weeks (the fleet now and how fast it moves)

# %%
from pipelines.publish import charts, marts

ctx = charts.Context("02_version_adoption", parquet_dir, start, end, min_count, chart_dir)
adoption = ctx.mart("version_adoption_weekly")
uptake = ctx.mart("release_uptake")

# %% [markdown]
# ## Minor lines over time
# The last year: the newest lines by name, older lines grouped by major ("1.x older"), development
# builds apart. The whole history of how far behind the fleet runs is on "Retention and upgrades".

# %%
ctx.show(charts.version_lines(ctx, adoption, marts.reference("flowforge_releases"), named_lines, uptake, weeks))

# %% [markdown]
# ## Upgrade velocity
# Days from each minor release until 25, 50 and 75 % of weekly active instances ran it or newer
# (measured at the end of the first week that reached the share; missing bars: not reached yet).

# %%
ctx.show(charts.release_uptake(uptake))

# %% [markdown]
# ## Patch versions of the newest lines

# %%
ctx.show(charts.patch_mix(ctx, adoption))

# %% [markdown]
# ## Development builds

# %%
ctx.show(charts.dev_builds(ctx, adoption))
