-- int_invalid_values: per load and field, landed values that were present but unusable
-- (a count that is not a non-negative integer, a flag that is not true/false) and became null
-- incremental: load_id
-- input: main.raw_pings
with raw_pings as (
    select * from main.raw_pings
),

counts as (
    unpivot (
        select
            load_id,
            source,
            "platform.counts.users" as users,
            "platform.counts.teams" as teams,
            "platform.counts.projects" as projects,
            "platform.counts.devices" as devices,
            "platform.counts.projectSnapshots" as project_snapshots,
            "platform.counts.projectTemplates" as project_stacks,
            "platform.counts.projectStacks" as project_templates,
            "platform.counts.libraryEntries" as library_entries,
            "platform.counts.sharedLibraryEntries" as shared_library_entries,
            "platform.counts.projectsByState.suspended" as projects_suspended,
            "platform.counts.blueprints" as blueprints,
            "platform.counts.teamBrokerClients" as team_broker_clients,
            "platform.counts.devicesByLastSeen.never" as devices_never_seen,
            "platform.counts.devicesByLastSeen.day" as devices_seen_day,
            "platform.counts.remoteBrokers" as remote_brokers
        from raw_pings
    )
    on columns(* exclude (load_id, source)) into name field value raw_value
),

flags as (
    unpivot (
        select
            load_id,
            source,
            "platform.config.broker.enabled" as broker_enabled,
            "platform.config.fileStore.enabled" as file_store_enabled,
            "platform.config.email.enabled" as email_enabled
        from raw_pings
    )
    on columns(* exclude (load_id, source)) into name field value raw_value
),

invalid as (
    select load_id, source, field from counts where to_count(raw_value) is null
    union all
    select load_id, source, field from flags where to_flag(raw_value) is null
),

final as (
    select load_id, source, field, count(*) as invalid from invalid group by all
)

select * from final
