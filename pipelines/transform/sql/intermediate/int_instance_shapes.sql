-- int_instance_shapes: one row per (instance_id, payload_shape, key_era): the utc days the instance first
-- and last sent a payload of that key set from a version of that key era, and its pings that did. a shape
-- names the set of dotted leaf keys a payload carried (main.payload_shapes.keys, each distinct set stored
-- once by landing); the key era says which known keys the sender's version sends (stg_pings.key_era). an
-- instance sends few shapes and eras, so a day's new pings touch about one row per active instance.
-- model: kind = "fold", key = ["instance_id", "payload_shape", "key_era"], merge = {first_day = "min", last_day = "max", pings = "sum"}
with pings as (
    select instance_id, "day", payload_shape, key_era from staging.stg_pings
),

final as (
    select
        instance_id,
        payload_shape,
        key_era,
        min("day") as first_day,                        -- utc
        max("day") as last_day,                         -- utc
        count(*) as pings
    from pings
    where payload_shape is not null                     -- landing gives every ping a shape
    group by instance_id, payload_shape, key_era
)

select * from final
