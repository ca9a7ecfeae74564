-- int_instance_days: one row per (instance_id, utc day) holding the state of that day's latest ping.
-- this is the one place pings collapse per instance; pings were deduped by identity when landed.
-- config: key = ["instance_id", "day"], input = ["staging.stg_pings"], new_rows = "staging.stg_pings.load_id"
with pings as (
    select * from staging.stg_pings
),

daily as (
    select
        instance_id,
        "day",
        count(*) as pings,                                -- distinct pings that day
        min(received_at) as first_seen,                   -- utc
        max(received_at) as last_seen,                    -- utc
        arg_min(version, received_at) as first_version,
        count(distinct ip_hash) as ip_hashes,             -- distinct keyed ip hashes that day
        arg_max(
            {
                'version': version, 'version_minor': version_minor, 'is_dev_build': is_dev_build,
                'nodejs_major': nodejs_major, 'os_type': os_type, 'os_arch': os_arch,
                'driver': driver, 'license_type': license_type,
                'broker_enabled': broker_enabled, 'file_store_enabled': file_store_enabled,
                'email_enabled': email_enabled, 'users': users, 'teams': teams,
                'projects': projects, 'devices': devices
            },
            received_at
        ) as latest
    from pings
    group by instance_id, "day"
),

final as (
    select
        instance_id,
        "day",
        pings,
        first_seen,
        last_seen,
        first_version,
        latest.version,
        latest.version_minor,
        latest.is_dev_build,
        latest.nodejs_major,
        latest.os_type,
        latest.os_arch,
        latest.driver,
        latest.license_type,
        latest.broker_enabled,
        latest.file_store_enabled,
        latest.email_enabled,
        latest.users,
        latest.teams,
        latest.projects,
        latest.devices,
        ip_hashes
    from daily
)

select * from final
