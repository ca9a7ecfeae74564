-- instances: one row per instance_id over all its pings; times utc
with pings as (
    select * from staging.stg_pings
),

final as (
    select
        instance_id,
        min(received_at) as first_seen,
        max(received_at) as last_seen,
        count(distinct "day") as days_seen,
        count(*) as pings,
        arg_min(version, received_at) as first_version,
        arg_max(version, received_at) as latest_version,
        arg_max(driver, received_at) as latest_driver,
        arg_max(license_type, received_at) as latest_license_type,
        count(distinct ip_hash) as ip_hashes
    from pings
    group by instance_id
)

select * from final order by instance_id
