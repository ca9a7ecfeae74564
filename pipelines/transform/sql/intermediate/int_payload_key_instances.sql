-- int_payload_key_instances: one row per (payload key, instance_id): the utc days it first and last
-- sent the key and its pings carrying it. keys are the dotted leaf paths landing recorded per ping
-- (raw_pings.payload_keys: every key of a ping-log payload, known or not; the non-null known
-- columns of a flat source).
-- config: key = ["instance_id"], input = ["main.raw_pings"], new_rows = "main.raw_pings.load_id"
with raw_pings as (
    select instance_id, received_at, payload_keys from main.raw_pings
),

keyed as (
    select instance_id, cast(received_at as date) as "day", unnest(payload_keys) as "key"
    from raw_pings
),

final as (
    select
        "key",
        instance_id,
        min("day") as first_day,
        max("day") as last_day,
        count(*) as pings
    from keyed
    group by "key", instance_id
)

select * from final
