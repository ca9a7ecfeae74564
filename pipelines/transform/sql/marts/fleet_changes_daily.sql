-- fleet_changes_daily: per utc day from the first to the last day with data, instances added (first seen that day) and removed (last
-- ping that day, then silent for 28 days): the one definition of "added" and "removed". removed is null
-- for the last 28 days with data, whose removals are not known yet. added_90d and removed_90d sum them
-- over the 90 days ending that day; null when those days reach into the first week of data (monday
-- start: every instance seen then counts as added) or hold a day whose removals are not known yet.
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

daily as (
    select
        d."day",
        coalesce(a.added, 0) as added,
        case when d."day" + 28 <= e.last_day then coalesce(r.removed, 0) end as removed
    from days d
    cross join data_end e
    left join added a using ("day")
    left join removed r using ("day")
),

first_full_week as (
    -- the monday after the week holding the first day with data
    select cast(date_trunc('week', min("day")) as date) + 7 as monday from days
),

final as (
    select
        d."day",                                                      -- utc date
        d.added,                                                      -- instances first seen that day
        d.removed,                                                    -- last seen that day, then 28 days silent
        case when d."day" - 89 >= f.monday
            then cast(sum(d.added) over last_90 as bigint) end as added_90d,          -- in the 90 days to "day"
        case when d."day" - 89 >= f.monday and d.removed is not null
            then cast(sum(d.removed) over last_90 as bigint) end as removed_90d
    from daily d
    cross join first_full_week f
    window last_90 as (order by d."day" rows between 89 preceding and current row)
)

select * from final order by "day"
