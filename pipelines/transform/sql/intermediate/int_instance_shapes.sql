-- int_instance_shapes: one row per (instance_id, payload_shape): the utc days the instance first and last
-- sent a payload of that key set, and its pings that did. a shape names the set of dotted leaf keys a
-- payload carried (main.payload_shapes.keys, each distinct set stored once by landing). an instance sends
-- few shapes, so a day's new pings touch about one row per active instance.
-- model: kind = "fold", key = ["instance_id", "payload_shape"], merge = {first_day = "min", last_day = "max", pings = "sum"}, changes = "main.raw_pings.load_id"
with raw_pings as (
    select instance_id, received_at, payload_shape from main.raw_pings
),

final as (
    select
        instance_id,
        payload_shape,
        min(cast(received_at as date)) as first_day,   -- utc
        max(cast(received_at as date)) as last_day,    -- utc
        count(*) as pings
    from raw_pings
    where payload_shape is not null                     -- landing gives every ping a shape
    group by instance_id, payload_shape
)

select * from final
