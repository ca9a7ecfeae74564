-- instances: one row per instance_id over all its pings; times utc
with instance_days as (
    select * from intermediate.int_instance_days
),

instance_ips as (
    select instance_id, count(*) as ip_hashes from intermediate.int_instance_ips group by instance_id
),

per_instance as (
    select
        instance_id,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        count(*) as days_seen,
        cast(sum(pings) as bigint) as pings,
        arg_min(first_version, first_seen) as first_version,
        arg_max(version, last_seen) as latest_version,
        arg_max(driver, last_seen) as latest_driver,
        arg_max(license_type, last_seen) as latest_license_type
    from instance_days
    group by instance_id
),

final as (
    select
        p.instance_id, p.first_seen, p.last_seen, p.days_seen, p.pings, p.first_version, p.latest_version,
        p.latest_driver, p.latest_license_type, coalesce(i.ip_hashes, 0) as ip_hashes
    from per_instance p
    left join instance_ips i using (instance_id)
)

select * from final order by instance_id
