-- pings_per_instance_day: how many instance-days carried 1, 2, 3... distinct pings (a restart adds one)
-- model: kind = "table"
with instance_days as (
    select pings from intermediate.int_instance_days
),

final as (
    select pings, count(*) as instance_days from instance_days group by pings
)

select * from final order by pings
