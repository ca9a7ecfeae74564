-- stg_flowforge_releases: every tagged flowforge release with its utc release date
-- model: kind = "view"
with releases as (
    select * from reference.flowforge_releases
),

final as (
    select
        version,
        cast(released_on as date) as released_on,
        cast(split_part(version, '.', 1) as integer) as major,
        cast(split_part(version, '.', 2) as integer) as minor,
        cast(split_part(version, '.', 3) as integer) as patch,
        split_part(version, '.', 1) || '.' || split_part(version, '.', 2) as version_minor
    from releases
)

select * from final
