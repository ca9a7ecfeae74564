-- transitions_monthly: per month (first day, utc), dimension ('driver' or 'license_type') and change
-- from one value to another, the instances whose reported value changed between consecutive
-- reported instance-days; 'unreported' days are skipped (trials ending: license_type from 'TRIAL',
-- conversions: 'CE' to 'EE')
with instance_days as (
    select instance_id, "day", driver, license_type from intermediate.int_instance_days
),

reported as (
    select instance_id, "day", 'driver' as dimension, driver as value
    from instance_days where driver <> 'unreported'
    union all
    select instance_id, "day", 'license_type' as dimension, license_type as value
    from instance_days where license_type <> 'unreported'
),

instance_values as (
    select instance_id, dimension from intermediate.int_instance_values where dimension <> 'version_minor'
),

changed_instances as (
    -- only instances that ever reported two values need the ordered walk below
    select instance_id, dimension from instance_values group by all having count(*) > 1
),

walk as (
    select r.* from reported r semi join changed_instances c using (instance_id, dimension)
),

changes as (
    select
        instance_id,
        dimension,
        "day",
        lag(value) over (partition by instance_id, dimension order by "day") as from_value,
        value as to_value
    from walk
),

final as (
    select
        cast(date_trunc('month', "day") as date) as month,
        dimension,
        from_value,
        to_value,
        count(distinct instance_id) as instances
    from changes
    where from_value is not null and from_value <> to_value
    group by all
)

select * from final order by month, dimension, from_value, to_value
