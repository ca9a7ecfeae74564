-- transitions_monthly: per month (first day, utc), dimension ('driver' or 'license_type') and change
-- from one value to another, the instances whose reported value changed between consecutive
-- reported instance-days; 'unreported' days are skipped (trials ending: license_type from 'TRIAL',
-- conversions: 'CE' to 'EE').
-- a day's update rebuilds the months from the touched one on: the walk starts from the value each
-- instance last reported before them (int_instance_months), so it never reads the older days.
-- model: kind = "by_date", grain = "month", restate = "all", cut = ["instance_days"]
with instance_days as not materialized (
    -- not materialized: read twice below; a kept copy spills under 512MB (why: docs/benchmark.md)
    select instance_id, "day", cast(date_trunc('month', "day") as date) as "month", driver, license_type
    from intermediate.int_instance_days
),

instance_months as (
    select instance_id, "month", last_driver, last_license_type from intermediate.int_instance_months
),

first_month as (
    select min("month") as "month" from instance_days
),

carried as (
    -- the value each instance last reported before the first month read (none when every month is read)
    select m.instance_id, 'driver' as dimension, arg_max(m.last_driver, m."month") as value
    from instance_months m, first_month f
    where m."month" < f."month" and m.last_driver is not null
    group by all
    union all
    select m.instance_id, 'license_type' as dimension, arg_max(m.last_license_type, m."month") as value
    from instance_months m, first_month f
    where m."month" < f."month" and m.last_license_type is not null
    group by all
),

reported as (
    select instance_id, "day", 'driver' as dimension, driver as value
    from instance_days where driver <> 'unreported'
    union all
    select instance_id, "day", 'license_type' as dimension, license_type as value
    from instance_days where license_type <> 'unreported'
    union all
    select c.instance_id, f."month" - 1 as "day", c.dimension, c.value
    from carried c, first_month f
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
