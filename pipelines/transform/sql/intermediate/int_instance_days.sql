-- int_instance_days: one row per (instance_id, utc day) holding the state of that day's latest ping.
-- this is the one place pings collapse per instance; pings were deduped by identity when landed.
-- a count is null when the latest ping did not carry its key (older versions lack newer keys).
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
        bool_and(is_dev_build) as only_dev_builds,        -- every ping that day sent a -git style version
        arg_max(
            {
                'version': version, 'version_minor': version_minor, 'is_dev_build': is_dev_build,
                'nodejs_major': nodejs_major, 'os_type': os_type, 'os_arch': os_arch,
                'driver': driver, 'license_type': license_type,
                'broker_enabled': broker_enabled, 'file_store_enabled': file_store_enabled,
                'email_enabled': email_enabled, 'users': users, 'teams': teams,
                'projects': projects, 'devices': devices,
                'projects_suspended': projects_suspended, 'devices_seen_day': devices_seen_day,
                'devices_never_seen': devices_never_seen, 'project_snapshots': project_snapshots,
                'blueprints': blueprints, 'team_broker_clients': team_broker_clients,
                'remote_brokers': remote_brokers, 'library_entries': library_entries,
                'shared_library_entries': shared_library_entries
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
        ip_hashes,
        only_dev_builds,
        -- the counts only the answers marts read; null when the latest ping did not carry the key
        latest.projects_suspended,
        latest.devices_seen_day,
        latest.devices_never_seen,
        latest.project_snapshots,
        latest.blueprints,
        latest.team_broker_clients,
        latest.remote_brokers,
        latest.library_entries,
        latest.shared_library_entries
    from daily
)

select * from final
