-- upgrade_paths_12m: one row per month (first day, utc; the last of 12), from_minor and to_minor with a
-- change of minor line in the 12 months ending that month (upgrade_paths_monthly's months from
-- window_start, the first month with data among them): the changes (its instances summed over those
-- months: an instance making the same change twice counts twice), direction ('up' or 'down') and the
-- minor lines released in between; and, the same on every row of the month, the upgrades and
-- downgrades of those 12 months and skipping_share, the share of the upgrades that skip a line.
-- model: kind = "table", time_column = "month"
with paths as (
    select
        "month",
        year("month") * 12 + month("month") as month_no,
        from_minor,
        to_minor,
        direction,
        minors_skipped,
        instances
    from marts.upgrade_paths_monthly
),

months as (
    select distinct cast(date_trunc('month', "day") as date) as "month" from marts.active_daily
),

numbered_months as (
    select
        "month",
        year("month") * 12 + month("month") as month_no,
        min("month") over (order by "month" rows between 11 preceding and current row) as window_start
    from months
),

windowed as (
    select
        m."month",
        m.window_start,
        p.from_minor,
        p.to_minor,
        p.direction,
        p.minors_skipped,
        sum(p.instances) as changes
    from numbered_months m
    join paths p on p.month_no between m.month_no - 11 and m.month_no
    group by m."month", m.window_start, p.from_minor, p.to_minor, p.direction, p.minors_skipped
),

summary as (
    select
        "month",
        sum(changes) filter (where direction = 'up') as upgrades,
        sum(changes) filter (where direction = 'down') as downgrades,
        sum(changes) filter (where direction = 'up' and minors_skipped > 0) as skipping
    from windowed
    group by "month"
),

final as (
    select
        w."month",                                                    -- first day, utc
        w.window_start,                                               -- first month of the 12 with data
        w.from_minor,
        w.to_minor,
        w.direction,                                                  -- 'up' or 'down'
        w.minors_skipped,                                             -- lines released in between
        cast(w.changes as bigint) as changes,
        cast(coalesce(s.upgrades, 0) as bigint) as upgrades,          -- in the 12 months
        cast(coalesce(s.downgrades, 0) as bigint) as downgrades,
        case when s.upgrades > 0 then coalesce(s.skipping, 0) / s.upgrades end as skipping_share
    from windowed w
    join summary s using ("month")
)

select * from final order by "month", from_minor, to_minor
