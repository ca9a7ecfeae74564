-- stg_pings: one row per landed ping (identity: instance_id + received_at), typed and normalised.
-- all times utc; "day" is the utc date the ping was received.
with raw_pings as (
    select * from main.raw_pings
),

renamed as (
    select
        load_id,
        instance_id,
        received_at,                                                   -- timestamp, utc, ms precision
        cast(received_at as date) as "day",                            -- utc date
        ip_hash,
        source,
        location,
        coalesce(nullif(regexp_replace(trim("env.flowforge"), '^[vV]', ''), ''), 'unknown') as version,
        nullif(trim("env.nodejs"), '') as nodejs_version,
        to_label("os.type") as os_type,
        nullif(trim("os.release"), '') as os_release,
        to_label("os.arch") as os_arch,
        to_label(lower("platform.config.driver")) as driver,
        to_label(upper("platform.license.type")) as license_type,
        nullif(trim("platform.license.id"), '') as license_id,
        to_flag("platform.config.broker.enabled") as broker_enabled,
        to_flag("platform.config.fileStore.enabled") as file_store_enabled,
        to_flag("platform.config.email.enabled") as email_enabled,
        to_count("platform.counts.users") as users,
        to_count("platform.counts.teams") as teams,
        to_count("platform.counts.projects") as projects,
        to_count("platform.counts.devices") as devices,
        to_count("platform.counts.projectSnapshots") as project_snapshots,
        -- the sender swaps these two (PINGS.md): projectTemplates carries the stack count
        to_count("platform.counts.projectTemplates") as project_stacks,
        to_count("platform.counts.projectStacks") as project_templates,
        to_count("platform.counts.libraryEntries") as library_entries,
        to_count("platform.counts.sharedLibraryEntries") as shared_library_entries,
        to_count("platform.counts.projectsByState.suspended") as projects_suspended,
        to_count("platform.counts.blueprints") as blueprints,
        to_count("platform.counts.teamBrokerClients") as team_broker_clients,
        to_count("platform.counts.devicesByLastSeen.never") as devices_never_seen,
        to_count("platform.counts.devicesByLastSeen.day") as devices_seen_day,
        to_count("platform.counts.remoteBrokers") as remote_brokers
    from raw_pings
),

final as (
    select
        *,
        coalesce(nullif(regexp_extract(version, '^([0-9]+\.[0-9]+)([.+-]|$)', 1), ''), 'unknown') as version_minor,
        regexp_matches(version, '^[0-9]+(\.[0-9]+)*-') as is_dev_build,  -- pre-release suffix such as -git
        try_cast(nullif(regexp_extract(nodejs_version, '^[vV]?([0-9]+)', 1), '') as integer) as nodejs_major
    from renamed
)

select * from final
