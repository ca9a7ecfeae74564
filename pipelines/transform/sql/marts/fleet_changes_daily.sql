-- fleet_changes_daily: per utc day from the first to the last day with data, instances added (first seen that day) and removed (last
-- ping that day, then silent for 28 days). removed is null for the last 28 days with data, whose
-- removals are not known yet.
-- model: kind = "table", time_column = "day"
with instance_months as (
    select instance_id, first_day, last_day from intermediate.int_instance_months
),

days as (
    -- every utc day from the first to the last day with data (a day without pings has zeros)
    select "day" from marts.active_daily
),

data_end as (
    select max(last_day) as last_day from instance_months
),

lifetimes as (
    select instance_id, min(first_day) as first_day, max(last_day) as last_day from instance_months group by instance_id
),

added as (
    select first_day as "day", count(*) as added from lifetimes group by first_day
),

removed as (
    select last_day as "day", count(*) as removed from lifetimes group by last_day
),

final as (
    select
        d."day",
        coalesce(a.added, 0) as added,
        case when d."day" + 28 <= e.last_day then coalesce(r.removed, 0) end as removed
    from days d
    cross join data_end e
    left join added a using ("day")
    left join removed r using ("day")
)

select * from final order by "day"
