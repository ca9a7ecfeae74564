-- fleet_weekly: per week (monday, utc) from the first to the last week with data: active instances,
-- and the instances added and removed that week (fleet_changes_daily's days summed: added = first
-- seen, removed = last seen that week, then silent for 28 days). removed is null for a week holding
-- a day whose removals are not known yet (the last 28 days with data).
-- model: kind = "table", time_column = "week"
with instance_weeks as (
    select instance_id, week from intermediate.int_instance_weeks
),

changes as (
    select cast(date_trunc('week', "day") as date) as week, added, removed from marts.fleet_changes_daily
),

weeks as (
    -- every monday from the first to the last week with data, active or not
    select cast(unnest(generate_series(min(week), max(week), interval 7 day)) as date) as week
    from instance_weeks
),

active as (
    select week, count(*) as active from instance_weeks group by week
),

changed as (
    select
        week,
        sum(added) as added,
        case when count(removed) = count(*) then sum(removed) end as removed
    from changes
    group by week
),

final as (
    select
        w.week,                                                       -- monday, utc
        coalesce(a.active, 0) as active,                              -- instances seen that week
        cast(coalesce(c.added, 0) as bigint) as added,                -- first seen that week
        cast(c.removed as bigint) as removed                          -- last seen that week, then 28 days silent
    from weeks w
    left join active a using (week)
    left join changed c using (week)
)

select * from final order by week
