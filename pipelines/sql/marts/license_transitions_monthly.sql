-- license_transitions_monthly: per month (first day, utc) and (from, to) licence type, the instances
-- whose reported type changed between consecutive instance-days (trials ending: from 'TRIAL';
-- conversions: 'CE' to 'EE'); unreported days are skipped
with reported as (
    select instance_id, "day", license_type
    from intermediate.int_instance_days
    where license_type <> 'unreported'
),

changed_instances as (
    -- only instances that ever reported two values need the ordered walk below
    select instance_id from reported group by instance_id having min(license_type) <> max(license_type)
),

instance_days as (
    select r.* from reported r semi join changed_instances c using (instance_id)
),

changes as (
    select
        instance_id,
        "day",
        lag(license_type) over (partition by instance_id order by "day") as from_type,
        license_type as to_type
    from instance_days
),

final as (
    select
        cast(date_trunc('month', "day") as date) as month,
        from_type,
        to_type,
        count(distinct instance_id) as instances
    from changes
    where from_type is not null and from_type <> to_type
    group by all
)

select * from final order by month, from_type, to_type
