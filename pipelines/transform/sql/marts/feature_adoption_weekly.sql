-- feature_adoption_weekly: per week (monday, utc), licence type ('ALL' and each type) and feature,
-- the active instances whose latest ping that week reported the feature (carried its keys), the
-- adopters among them, and share = adopters / instances. a feature no instance reported that week
-- has no row. adoption: a count above zero (devices_connected: more devices than never-connected
-- ones; several_teams: teams > 1) or a flag that is true.
-- model: kind = "by_date", grain = "week", cut = ["instance_weeks"]
with instance_weeks as (
    select * from intermediate.int_instance_weeks
),

features as (
    select * from (values
        ('snapshots'), ('devices'), ('devices_connected'), ('blueprints'), ('team_broker'),
        ('remote_brokers'), ('shared_library'), ('library'), ('broker_enabled'), ('file_store_enabled'),
        ('email_enabled'), ('several_teams')
    ) as f(feature)
),

adoption as (
    select
        w.week,
        w.license_type as licence,                        -- never null ('unreported')
        f.feature,
        case f.feature
            when 'snapshots' then w.project_snapshots > 0
            when 'devices' then w.devices > 0
            when 'devices_connected' then w.devices > w.devices_never_seen
            when 'blueprints' then w.blueprints > 0
            when 'team_broker' then w.team_broker_clients > 0
            when 'remote_brokers' then w.remote_brokers > 0
            when 'shared_library' then w.shared_library_entries > 0
            when 'library' then w.library_entries > 0
            when 'broker_enabled' then w.broker_enabled
            when 'file_store_enabled' then w.file_store_enabled
            when 'email_enabled' then w.email_enabled
            when 'several_teams' then w.teams > 1
        end as adopted                                   -- null: the ping did not report it
    from instance_weeks w
    cross join features f
),

counted as (
    select
        week,
        case when grouping(licence) = 1 then 'ALL' else licence end as license_type,
        feature,
        count(*) as instances,
        count(*) filter (where adopted) as adopters
    from adoption
    where adopted is not null
    group by grouping sets ((week, licence, feature), (week, feature))
),

final as (
    select week, license_type, feature, instances, adopters, adopters / instances as share from counted
)

select * from final order by week, license_type, feature
