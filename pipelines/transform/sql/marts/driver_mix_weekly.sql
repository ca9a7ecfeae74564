-- driver_mix_weekly: per week (monday, utc), instances by driver and their share of the
-- week's distinct active instances; an instance counts once, with its latest ping that week
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

counted as (
    select week, driver, count(*) as instances
    from instance_weeks
    group by all
),

weekly_totals as (
    select week, count(*) as active from instance_weeks group by week
),

final as (
    select
        c.week,
        driver,
        c.instances,
        c.instances / t.active as share      -- fraction 0..1 of the week's active instances
    from counted c
    join weekly_totals t using (week)
)

select * from final order by week, driver
