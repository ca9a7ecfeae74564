-- active_daily: distinct instances seen in the 1, 7 and 28 utc days ending each day, for every day
-- from the first to the last day with data. an instance seen on day d counts as active from d until
-- d + window - 1 or the day before it is next seen, so intervals never overlap and a running sum counts.
-- incremental by day: a day's 28-day window reads the 27 days before it, and a new day changes the
-- 27 days after it; the spine's bounds read every instance-day, never the cut input.
-- model: kind = "by_date", grain = "day", lookback = 27, restate = 27, cut = ["instance_days"]
with instance_days as (
    select instance_id, "day" from intermediate.int_instance_days
),

bounds as (
    select min("day") as first_day, max("day") as last_day from intermediate.int_instance_days
),

spine as (
    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as "day"
    from bounds
),

next_seen as (
    select
        "day",
        lead("day") over (partition by instance_id order by "day") as next_day
    from instance_days
),

windows as (
    select unnest([1, 7, 28]) as width
),

intervals as (
    select
        width,
        "day" as start_day,
        least("day" + (width - 1), coalesce(next_day - 1, "day" + (width - 1))) as end_day
    from next_seen, windows
),

events as (
    select width, start_day as "day", count(*) as delta from intervals group by all
    union all
    select width, end_day + 1 as "day", -count(*) as delta from intervals group by all
),

per_day as (
    select width, "day", sum(delta) as delta from events group by all
),

grid as (
    select s."day", w.width, coalesce(p.delta, 0) as delta
    from spine s
    cross join windows w
    left join per_day p on p."day" = s."day" and p.width = w.width
),

running as (
    select
        "day",
        width,
        sum(delta) over (partition by width order by "day" rows between unbounded preceding and current row) as active
    from grid
),

final as (
    select
        "day",
        cast(max(active) filter (where width = 1) as bigint) as active_1d,
        cast(max(active) filter (where width = 7) as bigint) as active_7d,
        cast(max(active) filter (where width = 28) as bigint) as active_28d
    from running
    group by "day"
)

select * from final order by "day"
