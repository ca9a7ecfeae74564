-- int_instance_values: the distinct values each instance has reported per dimension ('driver',
-- 'license_type', 'version_minor'), over all its pings ('unreported' left out). an instance with one
-- value in a dimension never changed it: the transitions and upgrade paths walk only the others.
-- (a ping that is not a day's latest can add a value no day kept: the walk then finds no change.)
-- model: kind = "fold", key = ["instance_id", "dimension", "value"], merge = {}
with pings as (
    select instance_id, driver, license_type, version_minor from staging.stg_pings
),

combinations as (
    -- each instance's distinct (driver, licence, minor): one scan of the pings and a few rows per
    -- instance, split into dimensions below
    select distinct instance_id, driver, license_type, version_minor from pings
),

reported as (
    select instance_id, 'driver' as dimension, driver as value from combinations where driver <> 'unreported'
    union all
    select instance_id, 'license_type' as dimension, license_type as value from combinations where license_type <> 'unreported'
    union all
    select instance_id, 'version_minor' as dimension, version_minor as value from combinations
),

final as (
    select distinct instance_id, dimension, value from reported
)

select * from final
