-- headline_daily: one row per utc day from the first to the last day with data: the distinct instances
-- seen in the 1, 7 and 28 utc days ending that day, for the whole fleet (active_daily) and for the core
-- fleet (instances with excluded = false: the whole fleet less the excluded instances seen in the
-- window), and each figure's change on the same window 7 days earlier as a fraction (0.031 = +3.1 %;
-- null while the earlier window reaches before the first day with data (within_data: the first 7, 13
-- and 34 days for the 1-, 7- and 28-day windows), or when it had no instance). days_of_data: the utc
-- days from the first day with data to that day (1 on the first day); whole_7d and whole_28d: whether
-- the window lies wholly in the data (within_data), else its count covers only days_of_data days.
-- model: kind = "table", time_column = "day"
with active as (
    select "day", active_1d, active_7d, active_28d from marts.active_daily
),

excluded as (
    select instance_id from marts.instances where excluded
),

excluded_days as (
    -- the excluded instances' days, each with the next day the instance was seen
    select
        d.instance_id,
        d."day",
        lead(d."day") over (partition by d.instance_id order by d."day") as next_day
    from intermediate.int_instance_days d
    semi join excluded x using (instance_id)
),

widths as (
    select unnest([1, 7, 28]) as width
),

spans as (
    -- seen on day d: in the window of days d .. d + width - 1, until the day it is seen again
    select
        w.width,
        e."day" as first_day,
        least(e."day" + w.width, coalesce(e.next_day, e."day" + w.width)) as after_day
    from excluded_days e
    cross join widths w
),

steps as (
    select width, first_day as "day", count(*) as step from spans group by all
    union all
    select width, after_day as "day", -count(*) as step from spans group by all
),

running as (
    select
        a."day",
        w.width,
        sum(coalesce(s.step, 0)) over (partition by w.width order by a."day"
                                       rows between unbounded preceding and current row) as excluded_active
    from active a
    cross join widths w
    left join (select width, "day", sum(step) as step from steps group by all) s
        on s."day" = a."day" and s.width = w.width
),

excluded_active as (
    select
        "day",
        max(excluded_active) filter (where width = 1) as excluded_1d,
        max(excluded_active) filter (where width = 7) as excluded_7d,
        max(excluded_active) filter (where width = 28) as excluded_28d
    from running
    group by "day"
),

core as (
    select
        a."day",
        a.active_1d,
        a.active_7d,
        a.active_28d,
        cast(a.active_1d - x.excluded_1d as bigint) as active_1d_core,
        cast(a.active_7d - x.excluded_7d as bigint) as active_7d_core,
        cast(a.active_28d - x.excluded_28d as bigint) as active_28d_core
    from active a
    join excluded_active x using ("day")
),

data_span as (
    select min("day") as first_day, max("day") as last_day from active
),

week_before as (
    select
        c.*,
        cast(date_diff('day', e.first_day, c."day") + 1 as integer) as days_of_data,
        within_data(c."day" - 6, c."day", e.first_day, e.last_day) as whole_7d,   -- the window itself: whole
        within_data(c."day" - 27, c."day", e.first_day, e.last_day) as whole_28d,
        within_data(c."day" - 7, c."day", e.first_day, e.last_day) as known_1d,   -- the earlier window: whole
        within_data(c."day" - 13, c."day", e.first_day, e.last_day) as known_7d,
        within_data(c."day" - 34, c."day", e.first_day, e.last_day) as known_28d,
        lag(active_1d, 7) over (order by "day") as before_1d,
        lag(active_7d, 7) over (order by "day") as before_7d,
        lag(active_28d, 7) over (order by "day") as before_28d,
        lag(active_1d_core, 7) over (order by "day") as before_1d_core,
        lag(active_7d_core, 7) over (order by "day") as before_7d_core,
        lag(active_28d_core, 7) over (order by "day") as before_28d_core
    from core c
    cross join data_span e
),

final as (
    select
        "day",                                                        -- utc date
        active_1d,                                                    -- instances seen that day
        active_7d,                                                    -- seen in the 7 days to it
        active_28d,                                                   -- seen in the 28 days to it
        active_1d_core,                                               -- the same, core fleet only
        active_7d_core,
        active_28d_core,
        case when known_1d and before_1d > 0 then active_1d / before_1d - 1 end as active_1d_change,   -- fraction
        case when known_7d and before_7d > 0 then active_7d / before_7d - 1 end as active_7d_change,
        case when known_28d and before_28d > 0 then active_28d / before_28d - 1 end as active_28d_change,
        case when known_1d and before_1d_core > 0 then active_1d_core / before_1d_core - 1 end
            as active_1d_core_change,
        case when known_7d and before_7d_core > 0 then active_7d_core / before_7d_core - 1 end
            as active_7d_core_change,
        case when known_28d and before_28d_core > 0 then active_28d_core / before_28d_core - 1 end
            as active_28d_core_change,
        days_of_data,                                                 -- days, 1 on the first day with data
        whole_7d,                                                     -- the 7 days to it all lie in the data
        whole_28d                                                     -- the 28 days to it all lie in the data
    from week_before
)

select * from final order by "day"
