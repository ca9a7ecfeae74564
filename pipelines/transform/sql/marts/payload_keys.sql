-- payload_keys: one row per dotted payload key any landed ping carried, known or not: the first and
-- last utc day it was seen, the pings that carried it and the distinct instances that sent it. a key
-- the platform starts sending shows up here without a code change.
with key_instances as (
    select * from intermediate.int_payload_key_instances
),

final as (
    select
        "key",
        min(first_day) as first_day,
        max(last_day) as last_day,
        cast(sum(pings) as bigint) as pings,
        count(*) as instances
    from key_instances
    group by "key"
)

select * from final order by "key"
