-- clones_daily: per utc day, active instances and those whose instanceId sent from several keyed ip
-- hashes that day (a cloned deployment, or an address change)
-- model: kind = "by_date", grain = "day", cut = ["instance_days"]
with instance_days as (
    select "day", ip_hashes from intermediate.int_instance_days
),

final as (
    select
        "day",
        count(*) as instances,
        count(*) filter (where ip_hashes > 1) as several_ip_hashes
    from instance_days
    group by "day"
)

select * from final order by "day"
