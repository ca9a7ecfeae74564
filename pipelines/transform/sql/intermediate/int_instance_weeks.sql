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
                'os_type': os_type, 'os_arch': os_arch, 'users': users, 'projects': projects,
                'devices': devices
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
        latest.devices
    from weekly
)

select * from final
