-- instances: one row per instance_id over all its pings; times utc.
-- flags for the "core" fleet: is_dev_build (every ping sent a -git style version), is_single_day (seen
-- on one utc day only, and not within the last 7 days with data), is_clone (several keyed ip hashes on
-- one day, on more than one day); excluded = any of them.
-- model: kind = "table"
with instance_months as (
    select * from intermediate.int_instance_months
),

instance_ips as (
    select instance_id, count(*) as ip_hashes from intermediate.int_instance_ips group by instance_id
),

data_end as (
    select max(last_day) as last_day from instance_months
),

dev_builds as (
    select instance_id, bool_and(only_dev_builds) as is_dev_build from instance_months group by instance_id
),

per_instance as (
    -- the months fold: min/max of times, sums of counts, the first and latest values by time
    select
        instance_id,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        cast(sum(days_seen) as bigint) as days_seen,
        cast(sum(pings) as bigint) as pings,
        arg_min(first_version, first_seen) as first_version,
        arg_max(latest_version, last_seen) as latest_version,
        arg_max(latest_driver, last_seen) as latest_driver,
        arg_max(latest_license_type, last_seen) as latest_license_type,
        max(last_day) as last_day,
        cast(sum(days_with_several_ips) as bigint) as days_with_several_ips
    from instance_months
    group by instance_id
),

flagged as (
    select
        p.*,
        coalesce(d.is_dev_build, false) as is_dev_build,
        -- "not in the last 7 days": last seen before the 7 utc days ending on the last day with data
        p.days_seen = 1 and p.last_day < e.last_day - 6 as is_single_day,
        p.days_with_several_ips > 1 as is_clone
    from per_instance p
    cross join data_end e
    left join dev_builds d using (instance_id)
),

final as (
    select
        f.instance_id, f.first_seen, f.last_seen, f.days_seen, f.pings, f.first_version, f.latest_version,
        f.latest_driver, f.latest_license_type, coalesce(i.ip_hashes, 0) as ip_hashes,
        f.is_dev_build, f.is_single_day, f.is_clone,
        f.is_dev_build or f.is_single_day or f.is_clone as excluded
    from flagged f
    left join instance_ips i using (instance_id)
)

select * from final order by instance_id
