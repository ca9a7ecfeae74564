-- quarantine: every row read that could not be loaded, with where it came from and why
-- model: kind = "table"
with quarantined as (
    select * from main.quarantine
),

final as (
    select source, location, reason, raw from quarantined
)

select * from final order by source, location
