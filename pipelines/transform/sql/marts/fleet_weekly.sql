-- fleet_weekly: per week (monday, utc): active instances, new instances (first ping that week) and
-- churned instances (not seen for 28 days: counted in the week of their last day seen + 28 days,
-- only once that day has passed in the data)
-- model: kind = "table", time_column = "week"
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

instance_months as (
    select instance_id, first_day, last_day from intermediate.int_instance_months
),

data_end as (
    select max(last_day) as last_day from instance_months
),

lifetimes as (
    select instance_id, min(first_day) as first_day, max(last_day) as last_day
    from instance_months
    group by instance_id
),

weeks as (
    -- every monday from the first to the last week with data, active or not
    select cast(unnest(generate_series(min(week), max(week), interval 7 day)) as date) as week
    from instance_weeks
),

active as (
    select week, count(*) as active from instance_weeks group by week
),

new_instances as (
    select cast(date_trunc('week', first_day) as date) as week, count(*) as new
    from lifetimes
    group by week
),

churned as (
    select cast(date_trunc('week', l.last_day + 28) as date) as week, count(*) as churned
    from lifetimes l, data_end d
    where l.last_day + 28 <= d.last_day
    group by week
),

final as (
    select
        w.week,
        coalesce(a.active, 0) as active,
        coalesce(n.new, 0) as new,
        coalesce(c.churned, 0) as churned
    from weeks w
    left join active a using (week)
    left join new_instances n using (week)
    left join churned c using (week)
)

select * from final order by week
