-- invalid_values: per source, field (its staging column) and reason, how many landed values were present
-- but unusable and became null (not_a_count, not_a_flag) or were blanked as address-shaped on landing
-- (address_shaped), and the pings whose sender address was a placeholder (field ip, reason placeholder:
-- empty, whitespace or 'unknown', which get no hash)
-- model: kind = "table"
with per_load as (
    select * from intermediate.int_invalid_values
),

final as (
    select source, field, reason, cast(sum(invalid) as bigint) as invalid
    from per_load
    group by source, field, reason
)

select * from final order by source, field, reason
