-- fleet_size_weekly: per week (monday, utc) and metric (users, projects, devices): median and 90th
-- percentile over active instances' latest reported count that week (instances not reporting it excluded)
-- model: kind = "by_date", grain = "week", cut = ["instance_weeks"]
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

long as (
    -- the sql-standard unpivot (nulls excluded): the same on duckdb and spark
    select week, metric, amount
    from (select week, users, projects, devices from instance_weeks)
    unpivot (amount for metric in (users, projects, devices))
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
