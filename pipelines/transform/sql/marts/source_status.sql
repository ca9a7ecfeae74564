-- source_status: per source and file or table, rows read = loaded + duplicates + quarantined + pending,
-- the pending torn final lines, the state (ok, changed, error), in_trouble (changed, failed, or waiting
-- on a torn final line) and the last load (utc)
-- model: kind = "table"
with loads as (
    select
        source, item,
        sum(rows_read)::bigint as rows_read, sum(loaded)::bigint as loaded,
        sum(duplicates)::bigint as duplicates, sum(quarantined)::bigint as quarantined,
        max(finished_at) as last_loaded_at
    from main.load_log
    group by source, item
),

states as (
    select * from main.source_state
),

final as (
    select
        coalesce(l.source, s.source) as source,
        coalesce(l.item, s.item) as item,
        coalesce(l.rows_read, 0) + coalesce(s.pending, 0) as rows_read,
        coalesce(l.loaded, 0) as loaded,
        coalesce(l.duplicates, 0) as duplicates,
        coalesce(l.quarantined, 0) as quarantined,
        coalesce(s.pending, 0) as pending,
        coalesce(s.status, 'ok') as status,
        s.message,
        coalesce(l.last_loaded_at, s.last_loaded_at) as last_loaded_at,
        coalesce(s.status, 'ok') <> 'ok' or coalesce(s.pending, 0) > 0 as in_trouble
    from loads l
    full join states s on s.source = l.source and s.item = l.item
)

select * from final order by source, item
