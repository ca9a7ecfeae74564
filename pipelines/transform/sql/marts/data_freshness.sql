-- data_freshness: one row: the first and the last utc day with data, the last ping received (utc) and
-- the instances ever seen (all nulls and 0 before any ping is loaded).
-- model: kind = "table"
with days as (
    select min("day") as first_day, max("day") as last_day from marts.active_daily
),

instances as (
    select max(last_seen) as last_ping_at, count(*) as instances from marts.instances
),

final as (
    select
        d.first_day,                                                  -- utc date
        d.last_day,                                                   -- utc date
        i.last_ping_at,                                               -- utc
        i.instances                                                   -- distinct instanceIds ever seen
    from days d
    cross join instances i
)

select * from final
