-- int_payload_key_instances: one row per (payload key, instance_id): the utc days it first and last
-- sent the key and its pings carrying it. keys are the dotted leaf paths landing recorded per ping
-- (every key of a ping-log payload, known or not; the non-null known columns of a flat source), as
-- a shape: the instance's shapes (int_instance_shapes) unnest into their keys (main.payload_shapes).
with instance_shapes as (
    select * from intermediate.int_instance_shapes
),

payload_shapes as (
    select shape, keys from main.payload_shapes
),

keyed as (
    select
        i.instance_id, i.first_day, i.last_day, i.pings,
        unnest(s.keys) as "key"
    from instance_shapes i
    join payload_shapes s on s.shape = i.payload_shape
),

final as (
    select
        "key",
        instance_id,
        min(first_day) as first_day,
        max(last_day) as last_day,
        sum(pings)::bigint as pings
    from keyed
    group by "key", instance_id
)

select * from final
