-- int_instance_ips: the distinct keyed ip hashes each instance has sent from (no plain address exists)
-- model: kind = "fold", key = ["instance_id", "ip_hash"], merge = {}
with pings as (
    select instance_id, ip_hash from staging.stg_pings
),

final as (
    select distinct instance_id, ip_hash from pings where ip_hash is not null
)

select * from final
