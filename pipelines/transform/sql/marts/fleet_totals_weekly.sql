-- fleet_totals_weekly: per week (monday, utc), licence type ('ALL' and each type) and metric, the sum
-- of a count over the week's active instances, each in the state of its latest ping that week, and
-- the instances whose latest ping carried the metric. a missing key is not a zero: instances that
-- did not send it are left out of both figures; a metric no instance sent that week has no row.
-- model: kind = "by_date", grain = "week", cut = ["instance_weeks"]
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

metrics as (
    select * from (values
        ('users'), ('teams'), ('hosted_instances'), ('suspended_projects'), ('remote_instances'),
        ('devices_seen_last_day'), ('devices_never_connected'), ('snapshots'), ('blueprints'),
        ('team_broker_clients'), ('remote_brokers'), ('library_entries'), ('shared_library_entries')
    ) as m(metric)
),

values_long as (
    select
        w.week,
        w.license_type as licence,                        -- never null ('unreported')
        m.metric,
        case m.metric
            when 'users' then w.users
            when 'teams' then w.teams
            when 'hosted_instances' then w.projects
            when 'suspended_projects' then w.projects_suspended
            when 'remote_instances' then w.devices
            when 'devices_seen_last_day' then w.devices_seen_day
            when 'devices_never_connected' then w.devices_never_seen
            when 'snapshots' then w.project_snapshots
            when 'blueprints' then w.blueprints
            when 'team_broker_clients' then w.team_broker_clients
            when 'remote_brokers' then w.remote_brokers
            when 'library_entries' then w.library_entries
            when 'shared_library_entries' then w.shared_library_entries
        end as value
    from instance_weeks w
    cross join metrics m
),

summed as (
    select
        week,
        case when grouping(licence) = 1 then 'ALL' else licence end as license_type,
        metric,
        cast(sum(value) as bigint) as total,
        count(value) as instances
    from values_long
    where value is not null
    group by grouping sets ((week, licence, metric), (week, metric))
),

final as (
    select week, license_type, metric, total, instances from summed
)

select * from final order by week, license_type, metric
