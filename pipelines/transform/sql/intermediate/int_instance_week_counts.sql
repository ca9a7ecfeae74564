-- int_instance_week_counts: one row per (instance_id, week) with the counts and flags of its latest
-- ping that week. week = the monday (utc) starting the iso week of the utc day.
-- config: key = ["instance_id", "week"], key_sql = {week = "cast(date_trunc('week', \"day\") as date)"}, input = ["intermediate.int_instance_day_counts"], new_rows = "staging.stg_pings.load_id"
with day_counts as (
    select * from intermediate.int_instance_day_counts
),

weekly as (
    select
        instance_id,
        cast(date_trunc('week', "day") as date) as week,
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
            last_seen
        ) as latest
    from day_counts
    group by instance_id, week
),

final as (
    select
        instance_id,
        week,
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
    from weekly
)

select * from final
