-- instance_days: one row per (instance_id, utc day), the state of that day's latest ping
-- a view: int_instance_days is already a table; export writes it straight to parquet
-- model: kind = "view", time_column = "day", partition = "month"
with instance_days as (
    select * from intermediate.int_instance_days
),

final as (
    select
        instance_id, "day", pings, last_seen, version, version_minor, is_dev_build, nodejs_major,
        os_type, os_arch, driver, license_type, broker_enabled, file_store_enabled, email_enabled,
        users, teams, projects, devices, ip_hashes
    from instance_days
)

select * from final
