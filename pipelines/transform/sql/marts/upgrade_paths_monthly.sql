-- upgrade_paths_monthly: per month (first day, utc) and change of minor release line between two
-- consecutive days an instance was seen (from_minor -> to_minor, counted in the month of the later
-- day): direction 'up' or 'down' (downgrades are kept), the minor lines released in between
-- (minors_skipped) and the distinct instances that made the change. a line without a line_key (unknown, or
-- too many digits to place among the releases) is left out.
-- a day's update rebuilds the months from the touched one on: the walk starts from the minor line each
-- instance last sent before them (int_instance_months), so it never reads the older days.
-- model: kind = "by_date", grain = "month", restate = "all", cut = ["instance_days"]
with instance_values as (
    select instance_id from intermediate.int_instance_values where dimension = 'version_minor'
),

changed_instances as (
    -- only instances that ever reported two minor lines can have changed
    select instance_id from instance_values group by all having count(*) > 1
),

instance_days as (
    select d.instance_id, d."day", cast(date_trunc('month', d."day") as date) as "month", d.version_minor
    from intermediate.int_instance_days d
    semi join changed_instances c using (instance_id)
),

first_month as (
    select min("month") as "month" from instance_days
),

carried as (
    -- the minor line each instance last sent before the first month read (none when every month is read)
    select m.instance_id, arg_max(m.last_version_minor, m."month") as version_minor
    from intermediate.int_instance_months m, first_month f
    where m."month" < f."month"
    group by all
),

days as (
    select instance_id, "day", version_minor from instance_days
    union all
    select c.instance_id, f."month" - 1 as "day", c.version_minor
    from carried c, first_month f
),

releases as (
    select distinct major, minor from staging.stg_flowforge_releases
),

consecutive as (
    select
        instance_id,
        "day",
        lag(version_minor) over (partition by instance_id order by "day") as from_minor,
        version_minor as to_minor
    from days
),

changes as (
    select
        instance_id,
        cast(date_trunc('month', "day") as date) as "month",
        from_minor,
        to_minor,
        line_key(from_minor) as from_key,                 -- a sortable number per line (macros.sql)
        line_key(to_minor) as to_key
    from consecutive
    where from_minor <> to_minor and line_key(from_minor) is not null and line_key(to_minor) is not null
),

paths as (
    select distinct from_minor, to_minor, from_key, to_key from changes
),

skipped as (
    select
        p.from_minor,
        p.to_minor,
        count(r.major) as minors_skipped                  -- released lines strictly between the two
    from paths p
    left join releases r
        on r.major * 1000 + r.minor > least(p.from_key, p.to_key)
        and r.major * 1000 + r.minor < greatest(p.from_key, p.to_key)
    group by p.from_minor, p.to_minor
),

counted as (
    select
        "month",
        from_minor,
        to_minor,
        case when max(to_key) > max(from_key) then 'up' else 'down' end as direction,
        count(distinct instance_id) as instances
    from changes
    group by "month", from_minor, to_minor
),

final as (
    select c."month", c.from_minor, c.to_minor, c.direction, s.minors_skipped, c.instances
    from counted c
    join skipped s using (from_minor, to_minor)
)

select * from final order by "month", from_minor, to_minor
