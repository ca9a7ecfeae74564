-- quarantine_daily: quarantined rows per utc day (the row's own day when its time was readable,
-- else the utc day it was loaded) and reason
-- model: kind = "table", time_column = "day"
with quarantined as (
    select q.reason, coalesce(q.received_on, cast(l.started_at as date)) as "day"
    from main.quarantine q
    left join main.load_log l using (load_id)
),

final as (
    select "day", reason, count(*) as "rows" from quarantined group by all
)

select * from final order by "day", reason
