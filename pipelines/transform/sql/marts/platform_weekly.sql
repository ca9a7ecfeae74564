-- platform_weekly: per week (monday, utc), instances by os type, os/arch and node.js major line,
-- each instance once with its latest ping that week; share of the week's active instances (0..1)
-- model: kind = "by_date", grain = "week", cut = ["instance_weeks"]
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

long as (
    select week, 'os_type' as dimension, os_type as value from instance_weeks
    union all
    select week, 'os_arch', os_type || '/' || os_arch from instance_weeks
    union all
    select week, 'nodejs_major', coalesce(cast(nodejs_major as varchar), 'unreported') from instance_weeks
),

counted as (
    select week, dimension, value, count(*) as instances from long group by all
),

weekly_totals as (
    select week, count(*) as active from instance_weeks group by week
),

final as (
    select c.week, c.dimension, c.value, c.instances, c.instances / t.active as share
    from counted c
    join weekly_totals t using (week)
)

select * from final order by week, dimension, value
