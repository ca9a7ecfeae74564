-- int_payload_key_instances: one row per (payload key, instance_id): the utc days it first and last
-- sent the key and its pings carrying it. keys are the dotted leaf paths landing recorded per ping
-- (every key of a ping-log payload, known or not; the non-null known columns of a flat source), as
-- a shape: raw_pings.payload_shape -> main.payload_shapes.keys, each distinct key set stored once.
-- config: key = ["key", "instance_id"], input = ["main.raw_pings"], new_rows = "main.raw_pings.load_id", fold = {first_day = "min", last_day = "max", pings = "sum"}
with raw_pings as (
    select instance_id, received_at, payload_shape from main.raw_pings
),

payload_shapes as (
    select shape, keys from main.payload_shapes
),

-- per instance and shape first: a handful of shapes per instance, so the keys unnest over few rows
instance_shapes as (
    select
        instance_id,
        payload_shape,
        min(cast(received_at as date)) as first_day,   -- utc
        max(cast(received_at as date)) as last_day,    -- utc
        count(*) as pings
    from raw_pings
    group by all
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
