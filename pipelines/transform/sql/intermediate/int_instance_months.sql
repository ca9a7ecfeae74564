-- int_instance_months: one row per (instance_id, utc month) summing that month's instance-days, so the
-- per-instance marts (instances, lifetimes, cohorts) read about one row per instance and month instead of
-- one per day. month = first day of the utc month; times utc. every column folds across months (min,
-- max, sum, arg_min/arg_max by time, bool_and).
-- model: kind = "by_key", key = ["instance_id", "month"], input = ["intermediate.int_instance_days"], period = {grain = "month"}
with instance_days as (
    select * from intermediate.int_instance_days
),

final as (
    select
        instance_id,
        cast(date_trunc('month', "day") as date) as "month",
        min("day") as first_day,                                  -- utc date
        max("day") as last_day,                                   -- utc date
        min(first_seen) as first_seen,                            -- utc
        max(last_seen) as last_seen,                              -- utc
        count(*) as days_seen,
        cast(sum(pings) as bigint) as pings,
        arg_min(first_version, first_seen) as first_version,
        arg_max(version, last_seen) as latest_version,
        arg_max(driver, last_seen) as latest_driver,
        arg_max(license_type, last_seen) as latest_license_type,
        count(*) filter (where ip_hashes > 1) as days_with_several_ips,
        bool_and(only_dev_builds) as only_dev_builds,              -- every ping that month sent a -git style version
        -- the month's last values, carried into the next month's walks (transitions, upgrade paths)
        arg_max(driver, "day") filter (where driver <> 'unreported') as last_driver,
        arg_max(license_type, "day") filter (where license_type <> 'unreported') as last_license_type,
        arg_max(version_minor, "day") as last_version_minor
    from instance_days
    group by instance_id, "month"
)

select * from final
