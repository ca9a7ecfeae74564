-- int_instance_ips: the distinct keyed ip hashes each instance has sent from (no plain address exists)
-- config: key = ["instance_id", "ip_hash"], input = ["staging.stg_pings"], new_rows = "staging.stg_pings.load_id", fold = {}
with pings as (
    select instance_id, ip_hash from staging.stg_pings
),

final as (
    select distinct instance_id, ip_hash from pings where ip_hash is not null
)

select * from final
