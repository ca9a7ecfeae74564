-- source_daily: pings landed per source and utc day received (after dedupe: a ping counts for the
-- source it was first loaded from)
-- model: kind = "table", time_column = "day"
with raw_pings as (
    select source, cast(received_at as date) as "day" from main.raw_pings
),

final as (
    select source, "day", count(*) as pings from raw_pings group by all
)

select * from final order by source, "day"
