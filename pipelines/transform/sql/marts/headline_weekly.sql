-- headline_weekly: one row per week (monday, utc) with data: the week's active instances and their
-- week-on-week growth and band, all and core (growth_weekly); the hosted (projects) and remote
-- (devices) instances summed over the week's active instances in their latest state that week, all
-- (fleet_totals_weekly) and core (all less the excluded instances' counts), each with its change on
-- the week before (a fraction; null without the week before); the newest minor line released by the
-- week's sunday (stg_flowforge_releases), the instances on it or a newer line (version_lag_weekly lag
-- 0) and their share of the week's active instances, with the change in share on the week before
-- (a difference of fractions) of the same line: the week before's share on this week's newest line or
-- a newer one (version_adoption_weekly, no development build), so a week that brings a new line shows
-- that line's rise, not a fall from the line before. complete: every day of the week lies between the
-- first and the last day with data (within_data: not a partial first week, not the week in progress).
-- a change on the week before is known only when both weeks are complete.
-- model: kind = "table", time_column = "week"
with growth as (
    select week, active, active_core, wow_growth, wow_growth_core, band, band_core from marts.growth_weekly
),

totals as (
    select
        week,
        max(total) filter (where metric = 'hosted_instances') as hosted,
        max(total) filter (where metric = 'remote_instances') as remote
    from marts.fleet_totals_weekly
    where license_type = 'ALL'
    group by week
),

excluded as (
    select instance_id from marts.instances where excluded
),

excluded_totals as (
    select w.week, sum(w.projects) as hosted, sum(w.devices) as remote
    from intermediate.int_instance_weeks w
    semi join excluded x using (instance_id)
    group by w.week
),

lines as (
    select version_minor, major * 1000 + minor as line_key, min(released_on) as released_on
    from staging.stg_flowforge_releases
    group by all
),

newest as (
    select g.week, arg_max(l.version_minor, l.line_key) as newest_line, max(l.line_key) as newest_key
    from growth g
    join lines l on l.released_on <= g.week + 6
    group by g.week
),

mix_keyed as (
    -- each week's versions (no development build) with their line's key
    select week, instances, line_key(version_minor) as line_key
    from marts.version_adoption_weekly
    where line_key(version_minor) is not null and not is_dev_version(version)
),

on_newest_before as (
    -- the week before, the instances on this week's newest line or a newer one
    select n.week, sum(m.instances) as instances
    from newest n
    join mix_keyed m on m.week = n.week - 7 and m.line_key >= n.newest_key
    group by n.week
),

on_newest as (
    select week, instances, share from marts.version_lag_weekly where lag = '0'
),

data_span as (
    select min("day") as first_day, max("day") as last_day from marts.active_daily
),

weekly as (
    select
        g.week,
        g.active,
        g.active_core,
        g.wow_growth,
        g.wow_growth_core,
        g.band,
        g.band_core,
        t.hosted,
        t.hosted - coalesce(x.hosted, 0) as hosted_core,
        t.remote,
        t.remote - coalesce(x.remote, 0) as remote_core,
        n.newest_line,
        coalesce(o.instances, 0) as newest_instances,
        coalesce(o.share, 0) as newest_share,
        coalesce(b.instances, 0) as newest_before,
        within_data(g.week, g.week + 6, e.first_day, e.last_day) as complete,
        within_data(g.week - 7, g.week + 6, e.first_day, e.last_day) as both_complete
    from growth g
    cross join data_span e
    left join totals t using (week)
    left join excluded_totals x using (week)
    left join newest n using (week)
    left join on_newest o using (week)
    left join on_newest_before b using (week)
),

week_before as (
    select
        *,
        lag(week) over (order by week) = week - 7 and both_complete as follows,   -- the week before: whole
        lag(hosted) over (order by week) as hosted_before,
        lag(hosted_core) over (order by week) as hosted_core_before,
        lag(remote) over (order by week) as remote_before,
        lag(remote_core) over (order by week) as remote_core_before,
        lag(active) over (order by week) as active_before
    from weekly
),

final as (
    select
        week,                                                         -- monday, utc
        complete,                                                     -- between the first and last day with data
        active as weekly_active,                                      -- instances seen that week
        active_core as weekly_active_core,
        wow_growth,                                                   -- fraction of the week before
        wow_growth_core,
        band,                                                         -- growth_bands
        band_core,
        cast(hosted as bigint) as hosted_instances,                   -- summed projects
        cast(hosted_core as bigint) as hosted_instances_core,
        cast(remote as bigint) as remote_instances,                   -- summed devices
        cast(remote_core as bigint) as remote_instances_core,
        case when follows and hosted_before > 0 then hosted / hosted_before - 1 end as hosted_instances_change,
        case when follows and hosted_core_before > 0 then hosted_core / hosted_core_before - 1 end
            as hosted_instances_core_change,
        case when follows and remote_before > 0 then remote / remote_before - 1 end as remote_instances_change,
        case when follows and remote_core_before > 0 then remote_core / remote_core_before - 1 end
            as remote_instances_core_change,
        newest_line,                                                  -- 'X.Y'
        newest_instances as newest_line_instances,                    -- on it or a newer line
        newest_share as newest_line_share,                            -- of weekly_active
        case when follows and newest_line is not null then newest_share - newest_before / active_before end
            as newest_line_share_change
    from week_before
)

select * from final order by week
