-- int_instance_day_counts: one row per (instance_id, utc day): the counts and flags of that day's
-- latest ping that the answers marts read (totals, adoption), and whether every ping was a dev build.
-- a count is null when the latest ping did not carry its key (older versions lack newer keys).
-- config: key = ["instance_id", "day"], input = ["staging.stg_pings"], new_rows = "staging.stg_pings.load_id"
with pings as (
    select * from staging.stg_pings
),

daily as (
    select
        instance_id,
        "day",
        max(received_at) as last_seen,                    -- utc
        bool_and(is_dev_build) as only_dev_builds,        -- every ping that day sent a -git style version
        arg_max(
            {
                'license_type': license_type, 'users': users, 'teams': teams, 'projects': projects,
                'projects_suspended': projects_suspended, 'devices': devices,
                'devices_seen_day': devices_seen_day, 'devices_never_seen': devices_never_seen,
                'project_snapshots': project_snapshots, 'blueprints': blueprints,
                'team_broker_clients': team_broker_clients, 'remote_brokers': remote_brokers,
                'library_entries': library_entries, 'shared_library_entries': shared_library_entries,
                'broker_enabled': broker_enabled, 'file_store_enabled': file_store_enabled,
                'email_enabled': email_enabled
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
        last_seen,
        only_dev_builds,
        latest.license_type,
        latest.users,
        latest.teams,
        latest.projects,
        latest.projects_suspended,
        latest.devices,
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
    from daily
)

select * from final
