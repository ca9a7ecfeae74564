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
end = None          # last UTC day to show; every figure describes it (None: the last day with data)
parquet_dir = None  # marts folder (None: the settings' parquet_dir: the demo's, or your sources')
audience = None     # "team" (every count) or "public" (counts under min_count hidden); None: the settings
min_count = None    # k of the public audience (None: the settings, default 5)
chart_dir = None    # None in JupyterLab; `make report` sets it (charts as report HTML, their CSV here)

# %%
from pipelines.publish.context import Context
from pipelines.publish.pages import versions

ctx = Context("02_version_adoption", parquet_dir, start, end, audience, min_count, chart_dir)

# %% [markdown]
# ## Minor lines over time
# The last year: the 5 newest lines by name, older lines together, development builds apart. How far
# behind the newest release the fleet runs, over the whole range, is on "Retention and upgrades".

# %%
ctx.show(versions.version_lines(ctx))

# %% [markdown]
# ## Upgrade velocity
# Days from each minor release until 25, 50 and 75 % of weekly active instances ran it or a newer line
# (measured at the end of the first complete week that reached the share).

# %%
ctx.show(versions.release_uptake(ctx))

# %% [markdown]
# ## Patch versions of the newest lines

# %%
ctx.show(versions.patch_mix(ctx))

# %% [markdown]
# ## Development builds

# %%
ctx.show(versions.dev_builds(ctx))
