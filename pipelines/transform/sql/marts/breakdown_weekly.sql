-- breakdown_weekly: one row per week (monday, utc), dimension and category: the weekly active instances
-- in the category (each instance once, in its latest state that week) and their share of the week's
-- active instances (the mix marts' shares summed), at most 8 categories a dimension, so a chart can
-- name every series:
--   driver, license_type  from driver_mix_weekly and license_mix_weekly,
--   os_arch, nodejs_major from platform_weekly: the 7 values with the most instance-weeks by name, the
--                         rest summed as 'other' (7 colours and a grey: every series told apart);
--   version_line          from version_adoption_weekly: the 5 newest released minor lines
--                         (stg_flowforge_releases) that instances ran, by name; 'other lines' (older or
--                         unreleased), 'dev builds' (is_dev_version), 'unknown' (no parseable version);
--   patch_version         the versions (no dev builds) of the 3 newest of those lines: the 7 with the
--                         most instance-weeks by name, the rest as 'other';
--   version_lag           from version_lag_weekly: 'newest line' (lag 0), '1 behind' .. '3 behind',
--                         '4+ behind', 'dev builds', 'unknown'.
-- category_rank orders a dimension's categories (1 first, the folded rest last); categories counts the
-- distinct values the row holds that week (1 for a value shown by name). every input is read once.
-- model: kind = "table", time_column = "week"
with released_lines as (
    select version_minor, max(major) * 1000 + max(minor) as line_key
    from staging.stg_flowforge_releases
    group by version_minor
),

versions as (
    -- line_rank: 1 for the newest released minor line instances ran (any week), 2 for the next...
    select
        v.week,
        v.version,
        v.version_minor,
        v.is_dev,
        v.instances,
        v.share,
        case when not v.is_dev and r.line_key is not null
            then dense_rank() over (partition by not v.is_dev and r.line_key is not null
                                    order by r.line_key desc) end as line_rank
    from (
        select week, version, version_minor, is_dev_version(version) as is_dev, instances, share
        from marts.version_adoption_weekly
    ) v
    left join released_lines r using (version_minor)
),

version_kinds as (
    select * from (values ('version_line'), ('patch_version')) as k(kind)
),

version_rows as (
    -- each version as its line's row, and (the 3 newest lines, no dev builds) as a patch version
    select
        v.week,
        k.kind as dimension,
        v.version as value,
        case
            when k.kind = 'patch_version' then null
            when v.is_dev then 'dev builds'
            when v.version_minor = 'unknown' then 'unknown'
            when v.line_rank <= 5 then v.version_minor
            else 'other lines'
        end as fixed_category,
        case
            when k.kind = 'patch_version' then null
            when v.is_dev then 7
            when v.version_minor = 'unknown' then 8
            when v.line_rank <= 5 then v.line_rank
            else 6
        end as fixed_rank,
        v.instances,
        v.share
    from versions v
    join version_kinds k on k.kind = 'version_line' or (not v.is_dev and v.line_rank <= 3)
),

lag_rows as (
    select
        week,
        'version_lag' as dimension,
        lag as value,
        case
            when lag = 'dev' then 'dev builds'
            when lag = 'unknown' then 'unknown'
            when lag = '0' then 'newest line'
            when try_cast(lag as integer) >= 4 then '4+ behind'
            else lag || ' behind'
        end as fixed_category,
        case
            when lag = 'dev' then 6
            when lag = 'unknown' then 7
            when try_cast(lag as integer) >= 4 then 5
            else try_cast(lag as integer) + 1
        end as fixed_rank,
        instances,
        share
    from marts.version_lag_weekly
),

all_rows as (
    select week, 'driver' as dimension, driver as value, cast(null as varchar) as fixed_category,
           cast(null as integer) as fixed_rank, instances, share
    from marts.driver_mix_weekly
    union all
    select week, 'license_type', license_type, null, null, instances, share from marts.license_mix_weekly
    union all
    select week, dimension, value, null, null, instances, share
    from marts.platform_weekly
    where dimension in ('os_arch', 'nodejs_major')
    union all
    select week, dimension, value, fixed_category, fixed_rank, instances, share from version_rows
    union all
    select week, dimension, value, fixed_category, fixed_rank, instances, share from lag_rows
),

ranked as (
    -- each value's place by instance-weeks within its dimension (used where no fixed category is given)
    select
        *,
        dense_rank() over (partition by dimension order by value_instances desc, value) as value_rank
    from (select *, sum(instances) over (partition by dimension, value) as value_instances from all_rows) s
),

labelled as (
    select
        week,
        dimension,
        value,
        coalesce(fixed_category,
                 case when value_rank <= 7 then value else 'other' end) as category,
        coalesce(fixed_rank,
                 case when value_rank <= 7 then value_rank else 8 end) as category_rank,
        instances,
        share
    from ranked
),

final as (
    select
        week,                                                         -- monday, utc
        dimension,
        category,
        cast(min(category_rank) as integer) as category_rank,         -- 1 first
        count(distinct value) as categories,                          -- values summed in the row
        cast(sum(instances) as bigint) as instances,                  -- weekly active instances
        sum(share) as share                                           -- of the week's active instances
    from labelled
    group by week, dimension, category
)

select * from final order by week, dimension, category_rank, category
