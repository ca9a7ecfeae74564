-- growth_weekly: per week (monday, utc) the instances seen that week and the week-on-week growth as a
-- fraction of the week before (0.031 = +3.1 %), graded in flowfuse's bands; the same for the "core"
-- fleet (instances.excluded = false). growth is null for the first week, when the week before had no
-- data, and for the unfinished current week (the last day with data is not its sunday).
-- model: kind = "table", time_column = "week"
with instance_weeks as (
    select instance_id, week from intermediate.int_instance_weeks
),

instances as (
    select instance_id, excluded from marts.instances
),

data_end as (
    select max("day") as last_day from intermediate.int_instance_days
),

active as (
    select
        w.week,
        count(*) as active,
        count(*) filter (where not i.excluded) as active_core
    from instance_weeks w
    join instances i using (instance_id)
    group by w.week
),

with_previous as (
    select
        a.*,
        lag(week) over (order by week) as prev_week,
        lag(active) over (order by week) as prev_active,
        lag(active_core) over (order by week) as prev_active_core
    from active a
),

growth as (
    select
        w.week,
        w.active,
        case when w.prev_week = w.week - 7 and w.week + 6 <= e.last_day and w.prev_active > 0
            then w.active / w.prev_active - 1 end as wow_growth,
        w.active_core,
        case when w.prev_week = w.week - 7 and w.week + 6 <= e.last_day and w.prev_active_core > 0
            then w.active_core / w.prev_active_core - 1 end as wow_growth_core
    from with_previous w
    cross join data_end e
),

final as (
    select
        week,
        active,
        wow_growth,
        -- flowfuse's bands: >= 6 % exceptional, 4-6 % strong, 2-4 % sustainable, 1-2 % okay, <= 1 % not acceptable
        case
            when wow_growth is null then null
            when wow_growth >= 0.06 then 'exceptional'
            when wow_growth >= 0.04 then 'strong'
            when wow_growth >= 0.02 then 'sustainable'
            when wow_growth > 0.01 then 'okay'
            else 'not acceptable'
        end as band,
        active_core,
        wow_growth_core
    from growth
)

select * from final order by week
