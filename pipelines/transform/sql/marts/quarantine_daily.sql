-- quarantine_daily: quarantined rows per utc day (the row's own day when its time was readable,
-- else the utc day it was loaded), reason, and timed (whether the day is the row's own)
-- model: kind = "table", time_column = "day"
with quarantined as (
    select
        q.reason,
        coalesce(q.received_on, cast(l.started_at as date)) as "day",
        q.received_on is not null as timed
    from main.quarantine q
    left join main.load_log l using (load_id)
),

final as (
    select "day", reason, timed, count(*) as "rows" from quarantined group by all
)

select * from final order by "day", reason, timed
