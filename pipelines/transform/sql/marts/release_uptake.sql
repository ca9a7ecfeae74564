-- release_uptake: for each minor release line X.Y (released_on = its X.Y.0 release, utc date), the
-- first day any instance reported it (releases published inside the data's range only) and the days from release until 25/50/75% of the weekly active
-- instances (all of them) ran X.Y or newer (a known, non-dev version); measured at the end (sunday) of the first
-- complete week (headline_weekly.complete) reaching the share; null when not reached (a week in progress has no
-- share yet)
-- model: kind = "table"
with releases as (
    select * from staging.stg_flowforge_releases
),

instance_weeks as (
    select * from intermediate.int_instance_weeks
),

minor_releases as (
    select
        version_minor as version,
        major,
        minor,
        min(released_on) as released_on
    from releases
    group by version_minor, major, minor
),

known_weeks as (
    select
        week,
        try_cast(split_part(version_minor, '.', 1) as integer) as major,
        try_cast(split_part(version_minor, '.', 2) as integer) as minor,
        count(*) as instances
    from instance_weeks
    where not is_dev_build and version_minor <> 'unknown'
    group by all
),

complete_weeks as (
    select week from marts.headline_weekly where complete
),

weekly_active as (
    -- every instance active that week: the denominator of every share of weekly active instances
    select week, count(*) as active from instance_weeks semi join complete_weeks using (week) group by week
),

shares as (
    select
        r.version,
        a.week,
        sum(k.instances) filter (
            where k.major > r.major or (k.major = r.major and k.minor >= r.minor)
        ) / any_value(a.active) as share
    from minor_releases r
    join weekly_active a on a.week >= cast(date_trunc('week', r.released_on) as date)
    join known_weeks k on k.week = a.week
    group by r.version, a.week
),

first_day as (
    select d.version_minor as version, min(d."day") as first_seen
    from intermediate.int_instance_days d
    where not d.is_dev_build
    group by d.version_minor
),

reached as (
    select
        version,
        min(week) filter (where share >= 0.25) as week_25,
        min(week) filter (where share >= 0.50) as week_50,
        min(week) filter (where share >= 0.75) as week_75
    from shares
    group by version
),

final as (
    select
        r.version,
        r.released_on,
        f.first_seen,
        -- whole days between two dates (date_diff on dates: the same on duckdb and spark)
        cast(date_diff('day', r.released_on, x.week_25 + 6) as integer) as days_to_25pct,
        cast(date_diff('day', r.released_on, x.week_50 + 6) as integer) as days_to_50pct,
        cast(date_diff('day', r.released_on, x.week_75 + 6) as integer) as days_to_75pct
    from minor_releases r
    left join first_day f using (version)
    left join reached x using (version)
    -- uptake is measurable only for releases published while pings were being collected
    where r.released_on between (select min("day") from intermediate.int_instance_days)
                            and (select max("day") from intermediate.int_instance_days)
)

select * from final order by released_on, version
