-- version_lag_weekly: per week (monday, utc) and lag, the active instances (state of their latest ping
-- that week) and their share of the week's active instances. lag = the minor release lines released
-- by the week's sunday that are newer than the instance's line ('0', '1', '2', ...), 'dev' for
-- development builds, 'unknown' where the version is unparseable or its line has no line_key (macros.sql).
-- model: kind = "by_date", grain = "week", cut = ["instance_weeks"]
with instance_weeks as (
    select instance_id, week, version_minor, is_dev_build from intermediate.int_instance_weeks
),

lines as (
    -- each minor line with the utc day its first release came out
    select major * 1000 + minor as line_key, min(released_on) as released_on
    from staging.stg_flowforge_releases
    group by major, minor
),

keyed as (
    select
        instance_id,
        week,
        is_dev_build,
        version_minor,
        line_key(version_minor) as line_key
    from instance_weeks
),

released_weeks as (
    select distinct week, line_key from keyed where line_key is not null and not is_dev_build
),

lag_of as (
    select
        w.week,
        w.line_key,
        count(l.line_key) as lines_behind
    from released_weeks w
    left join lines l on l.line_key > w.line_key and l.released_on <= w.week + 6
    group by w.week, w.line_key
),

labelled as (
    select
        k.week,
        case
            when k.is_dev_build then 'dev'
            when k.line_key is null then 'unknown'
            else cast(g.lines_behind as varchar)
        end as lag
    from keyed k
    left join lag_of g on g.week = k.week and g.line_key = k.line_key
),

counted as (
    select week, lag, count(*) as instances from labelled group by week, lag
),

final as (
    select
        week,
        lag,
        instances,
        instances / sum(instances) over (partition by week) as share
    from counted
)

select * from final order by week, lag
