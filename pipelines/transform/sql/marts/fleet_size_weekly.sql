-- fleet_size_weekly: per week (monday, utc) and metric (users, projects, devices): median and 90th
-- percentile over active instances' latest reported count that week (instances not reporting it excluded)
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

long as (
    unpivot (select week, users, projects, devices from instance_weeks)
    on users, projects, devices into name metric value amount
),

final as (
    select
        week,
        metric,
        count(*) as instances,
        quantile_cont(amount, 0.5) as median,
        quantile_cont(amount, 0.9) as p90
    from long
    group by week, metric
)

select * from final order by week, metric
