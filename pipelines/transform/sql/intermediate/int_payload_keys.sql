-- int_payload_keys: one row per dotted payload key any landed ping carried (every key of a ping-log
-- payload, known or not; the non-null known columns of a flat source): the utc days it was first and
-- last seen, the pings that carried it, the distinct instances that sent it, and those that sent it on
-- its first day. computed per shape (main.payload_shapes: each distinct key set, stored once by landing)
-- and per set of shapes an instance sent: both are few, so no row per key and instance is ever made.
-- model: kind = "table"
with instance_shapes as (
    select * from intermediate.int_instance_shapes
),

shape_keys as (
    select shape, unnest(keys) as "key" from main.payload_shapes
),

per_key as (
    -- a ping has one shape, so summing over the shapes that hold a key counts each ping once
    select
        k."key",
        min(i.first_day) as first_day,                   -- utc
        max(i.last_day) as last_day,                     -- utc
        sum(i.pings) as pings
    from instance_shapes i
    join shape_keys k on k.shape = i.payload_shape
    group by k."key"
),

instance_sets as (
    -- the set of shapes each instance sent, and how many instances sent each set
    select shapes, count(*) as instances
    from (
        select instance_id, list_sort(list(payload_shape)) as shapes
        from instance_shapes
        group by instance_id
    ) s
    group by shapes
),

set_keys as (
    -- an instance sent a key when any shape of its set holds it: each (set, key) once
    select distinct s.shapes, s.instances, k."key"
    from (select shapes, instances, unnest(shapes) as shape from instance_sets) s
    join shape_keys k on k.shape = s.shape
),

key_instances as (
    select "key", sum(instances) as instances from set_keys group by "key"
),

first_day_instances as (
    -- instances with a row of a shape holding the key dated the key's first day (utc)
    select p."key", count(distinct i.instance_id) as instances
    from per_key p
    join shape_keys k on k."key" = p."key"
    join instance_shapes i on i.payload_shape = k.shape and i.first_day = p.first_day
    group by p."key"
),

final as (
    select
        p."key",
        p.first_day,
        p.last_day,
        cast(p.pings as bigint) as pings,
        cast(n.instances as bigint) as instances,
        cast(f.instances as bigint) as first_day_instances
    from per_key p
    join key_instances n using ("key")
    join first_day_instances f using ("key")
)

select * from final
