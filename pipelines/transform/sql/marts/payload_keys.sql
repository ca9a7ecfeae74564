-- payload_keys: one row per dotted payload key any landed ping carried, known or not: the first and
-- last utc day it was seen, the pings that carried it, the distinct instances that sent it, and the
-- first flowforge version that sends it (expected_from; null for a key the collector does not know). a
-- key counts only for senders whose version sends it: a 0 the collector backfilled into older rows is
-- not a key they sent. a key the platform starts sending shows up here without a code change.
-- model: kind = "table"
with payload_keys as (
    select * from intermediate.int_payload_keys
),

final as (
    select
        "key",
        first_day,                 -- utc
        last_day,                  -- utc
        pings,
        instances,
        expected_from              -- x.y.z: senders of this version and newer send it
    from payload_keys
)

select * from final order by "key"
