-- growth_weekly: per week (monday, utc) the instances seen that week and the week-on-week growth as a
-- fraction of the week before (0.031 = +3.1 %), graded in flowfuse's bands; the same for the "core"
-- fleet (instances.excluded = false). growth is null unless the week and the week before both lie
-- between the first and the last day with data (within_data): null for the first week, for the week
-- after a partial first week (the data starts after its monday) and for the unfinished current week
-- (the last day with data is not its sunday). band and band_core grade the two growths by growth_bands (null when the growth is).
-- model: kind = "table", time_column = "week"
with instance_weeks as (
    select instance_id, week from intermediate.int_instance_weeks
),

instances as (
    select instance_id, excluded from marts.instances
),

data_span as (
    select min("day") as first_day, max("day") as last_day from intermediate.int_instance_days
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
        case when w.prev_week = w.week - 7 and within_data(w.prev_week, w.week + 6, e.first_day, e.last_day)
                and w.prev_active > 0
            then w.active / w.prev_active - 1 end as wow_growth,
        w.active_core,
        case when w.prev_week = w.week - 7 and within_data(w.prev_week, w.week + 6, e.first_day, e.last_day)
                and w.prev_active_core > 0
            then w.active_core / w.prev_active_core - 1 end as wow_growth_core
    from with_previous w
    cross join data_span e
),

bands as (
    select band, low, low_inclusive, high, high_inclusive from marts.growth_bands
),

final as (
    select
        g.week,
        g.active,
        g.wow_growth,
        b.band,                                           -- flowfuse's band of wow_growth (growth_bands)
        g.active_core,
        g.wow_growth_core,
        c.band as band_core                               -- the band of wow_growth_core
    from growth g
    left join bands b on in_growth_band(g.wow_growth, b.low, b.low_inclusive, b.high, b.high_inclusive)
    left join bands c on in_growth_band(g.wow_growth_core, c.low, c.low_inclusive, c.high, c.high_inclusive)
)

select * from final order by week
