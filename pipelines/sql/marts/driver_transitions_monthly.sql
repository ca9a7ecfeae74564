-- driver_transitions_monthly: per month (first day, utc) and (from, to) driver, the instances whose
-- reported driver changed from one instance-day to its next (unreported days skipped)
with reported as (
    select instance_id, "day", driver
    from intermediate.int_instance_days
    where driver <> 'unreported'
),

changed_instances as (
    -- only instances that ever reported two values need the ordered walk below
    select instance_id from reported group by instance_id having min(driver) <> max(driver)
),

instance_days as (
    select r.* from reported r semi join changed_instances c using (instance_id)
),

changes as (
    select
        instance_id,
        "day",
        lag(driver) over (partition by instance_id order by "day") as from_driver,
        driver as to_driver
    from instance_days
),

final as (
    select
        cast(date_trunc('month', "day") as date) as month,
        from_driver,
        to_driver,
        count(distinct instance_id) as instances
    from changes
    where from_driver is not null and from_driver <> to_driver
    group by all
)

select * from final order by month, from_driver, to_driver
