-- source_summary: one row per source (a file, folder or table the pings were loaded from): its items
-- (files or tables) and those in trouble (source_status.in_trouble), rows read = loaded + duplicates
-- + quarantined + pending, the last load (utc), and the share of every loaded ping it loaded first.
-- model: kind = "table"
with status as (
    select * from marts.source_status
),

final as (
    select
        source,
        count(*) as items,
        count(*) filter (where in_trouble) as items_in_trouble,
        cast(sum(rows_read) as bigint) as rows_read,
        cast(sum(loaded) as bigint) as loaded,
        cast(sum(duplicates) as bigint) as duplicates,
        cast(sum(quarantined) as bigint) as quarantined,
        cast(sum(pending) as bigint) as pending,
        max(last_loaded_at) as last_loaded_at,                        -- utc
        cast(sum(sum(loaded)) over () as bigint) as loaded_all,       -- every source
        case when sum(sum(loaded)) over () > 0
            then sum(loaded) / sum(sum(loaded)) over () end as share_of_loaded
    from status
    group by source
)

select * from final order by loaded desc, source
