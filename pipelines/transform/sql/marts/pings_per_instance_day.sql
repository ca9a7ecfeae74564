-- pings_per_instance_day: how many instance-days carried 1, 2, 3... distinct pings (a restart adds one),
-- and their share of every instance-day
-- model: kind = "table"
with instance_days as (
    select pings from intermediate.int_instance_days
),

counted as (
    select pings, count(*) as instance_days from instance_days group by pings
),

final as (
    select
        pings,                                                        -- distinct pings in the utc day
        instance_days,
        instance_days / sum(instance_days) over () as share           -- of every instance-day
    from counted
)

select * from final order by pings
