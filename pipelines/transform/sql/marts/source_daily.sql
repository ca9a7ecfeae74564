-- source_daily: pings landed per source and utc day received (after dedupe: a ping counts for the
-- source it was first loaded from); every day from a source's first to its last day with pings has a
-- row (0: none landed that day, so a chart's line drops to 0 instead of skipping the day)
-- model: kind = "table", time_column = "day"
with raw_pings as (
    select source, cast(received_at as date) as "day" from main.raw_pings
),

spine as (
    -- every utc day from the first to the last day with data
    select "day" from marts.active_daily
),

landed as (
    select source, "day", count(*) as pings from raw_pings group by all
),

spans as (
    select source, min("day") as first_day, max("day") as last_day from landed group by source
),

days as (
    select source, "day" from landed
    union
    select s.source, d."day" from spans s join spine d on d."day" between s.first_day and s.last_day
),

final as (
    select d.source, d."day", coalesce(l.pings, 0) as pings
    from days d
    left join landed l using (source, "day")
)

select * from final order by source, "day"
