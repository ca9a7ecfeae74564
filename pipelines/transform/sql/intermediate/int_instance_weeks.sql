-- int_instance_weeks: one row per (instance_id, week) with the state of its latest ping that week.
-- week = the monday (utc) starting the iso week of the utc day.
-- config: key = ["instance_id", "week"], key_sql = {week = "cast(date_trunc('week', \"day\") as date)"}, input = ["intermediate.int_instance_days"], new_rows = "staging.stg_pings.load_id"
with instance_days as (
    select * from intermediate.int_instance_days
),

weekly as (
    select
        instance_id,
        cast(date_trunc('week', "day") as date) as week,
        arg_max(
            {
                'version': version, 'version_minor': version_minor, 'is_dev_build': is_dev_build,
                'driver': driver, 'license_type': license_type, 'nodejs_major': nodejs_major,
                'os_type': os_type, 'os_arch': os_arch, 'users': users, 'teams': teams,
                'projects': projects, 'devices': devices,
                'projects_suspended': projects_suspended, 'devices_seen_day': devices_seen_day,
                'devices_never_seen': devices_never_seen, 'project_snapshots': project_snapshots,
                'blueprints': blueprints, 'team_broker_clients': team_broker_clients,
                'remote_brokers': remote_brokers, 'library_entries': library_entries,
                'shared_library_entries': shared_library_entries, 'broker_enabled': broker_enabled,
                'file_store_enabled': file_store_enabled, 'email_enabled': email_enabled
            },
            last_seen
        ) as latest
    from instance_days
    group by instance_id, week
),

final as (
    select
        instance_id,
        week,
        latest.version,
        latest.version_minor,
        latest.is_dev_build,
        latest.driver,
        latest.license_type,
        latest.nodejs_major,
        latest.os_type,
        latest.os_arch,
        latest.users,
        latest.projects,
        latest.devices,
        latest.teams,
        latest.projects_suspended,
        latest.devices_seen_day,
        latest.devices_never_seen,
        latest.project_snapshots,
        latest.blueprints,
        latest.team_broker_clients,
        latest.remote_brokers,
        latest.library_entries,
        latest.shared_library_entries,
        latest.broker_enabled,
        latest.file_store_enabled,
        latest.email_enabled
    from weekly
)

select * from final
