-- payload_keys: one row per dotted payload key any landed ping carried, known or not: the first and
-- last utc day it was seen, the pings that carried it and the distinct instances that sent it. a key
-- the platform starts sending shows up here without a code change.
-- model: kind = "table"
with payload_keys as (
    select * from intermediate.int_payload_keys
),

final as (
    select "key", first_day, last_day, pings, instances from payload_keys
)

select * from final order by "key"
