-- upgrade_paths_12m: one row per month (first day, utc; the last of 12), from_minor and to_minor with a
-- change of minor line in the 12 months ending that month (upgrade_paths_monthly's months from
-- window_start, the first month with data among them): the changes (its instances summed over those
-- months: an instance making the same change twice counts twice), direction ('up' or 'down') and the
-- minor lines released in between; and, the same on every row of the month, the upgrades and
-- downgrades of those 12 months and skipping_share, the share of the upgrades that skip a line.
-- the chart draws the 16 newest minor lines with a change in the 12 months (from_rank, to_rank: 1 is
-- the newest; from_drawn, to_drawn: the line is one of the 16); drawn marks a change between two of
-- them, drawn_changes sums those (what the drawn cells add up to) and lines_not_drawn counts the older
-- lines, left to the csv.
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

window_lines as (
    select distinct "month", from_minor as line from windowed
    union
    select distinct "month", to_minor as line from windowed
),

ranked_lines as (
    -- line_rank 1 is the newest line with a change in the month's 12 months (line_key, then the text
    -- descending: '2.7' before '2.07'); the chart draws the 16 newest
    select
        "month",
        line,
        line_rank,
        line_rank <= 16 as is_drawn
    from (
        select
            "month",
            line,
            row_number() over (
                partition by "month"
                order by line_key(line) desc, line desc
            ) as line_rank
        from window_lines
    )
),

ranked as (
    select
        w.*,
        f.line_rank as from_rank,
        t.line_rank as to_rank,
        f.is_drawn as from_drawn,
        t.is_drawn as to_drawn,
        f.is_drawn and t.is_drawn as drawn
    from windowed w
    join ranked_lines f on f."month" = w."month" and f.line = w.from_minor
    join ranked_lines t on t."month" = w."month" and t.line = w.to_minor
),

summary as (
    select
        "month",
        sum(changes) filter (where direction = 'up') as upgrades,
        sum(changes) filter (where direction = 'down') as downgrades,
        sum(changes) filter (where direction = 'up' and minors_skipped > 0) as skipping,
        sum(changes) filter (where drawn) as drawn_changes
    from ranked
    group by "month"
),

line_counts as (
    select "month", count(*) filter (where not is_drawn) as lines_not_drawn from ranked_lines group by "month"
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
        case when s.upgrades > 0 then coalesce(s.skipping, 0) / s.upgrades end as skipping_share,
        cast(w.from_rank as bigint) as from_rank,                     -- from_minor's line_rank (1: newest)
        cast(w.to_rank as bigint) as to_rank,                         -- to_minor's line_rank
        w.from_drawn,                                                 -- from_minor is one of the 16 newest
        w.to_drawn,                                                   -- to_minor is one of the 16 newest
        w.drawn,                                                      -- the chart draws this change
        cast(coalesce(s.drawn_changes, 0) as bigint) as drawn_changes, -- changes in the drawn cells
        cast(l.lines_not_drawn as bigint) as lines_not_drawn          -- minor lines older than the 16
    from ranked w
    join summary s using ("month")
    join line_counts l using ("month")
)

select * from final order by "month", from_minor, to_minor
