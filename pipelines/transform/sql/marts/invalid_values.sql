-- invalid_values: per source and field, how many landed values were present but unusable
-- (a count that is not a non-negative integer, a flag that is not true/false) and became null
with per_load as (
    select * from intermediate.int_invalid_values
),

final as (
    select source, field, cast(sum(invalid) as bigint) as invalid from per_load group by source, field
)

select * from final order by source, field
