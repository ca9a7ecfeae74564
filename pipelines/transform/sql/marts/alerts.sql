-- alerts: one row per check that fired, per utc day checked and subject. checks:
--   pings_per_day    distinct pings landed that day outside mean +- 3 sample standard deviations of
--                    the same weekday in the 8 weeks before (all 8 must lie within the data);
--                    severity critical for no pings, warning below, info above (a growing fleet)
--   source_stale     a source whose latest load reading anything new (rows read, duplicates
--                    included) started over 36 hours before the latest load of any source; only
--                    sources that brought new rows on two or more days (value and bound in hours;
--                    checked on the last day with data, so it is open while it lasts)
--   quarantine_share quarantined rows dated that day / (those + pings landed that day) over 0.01;
--                    rows with no readable time have no day and are left out
--   active_7d_drop   active_7d more than 20 % below its value 7 days before
--   new_payload_key  a payload key first seen that day (not on the first day with data), value =
--                    the instances that sent it that day
-- each row also says where its run stood that day (a run: one check firing for one subject on consecutive
-- days): run_first_day, run_days (days so far, this one included), run_severity (the worst so far:
-- critical, then warning, then info) and rank_on_day (1 = the worst of its check that day, then the
-- longest run, the largest value, by subject). what was open on a day D is its rows with checked_day = D;
-- "open" alerts are those whose checked_day is the last day with data.
-- model: kind = "table", time_column = "checked_day"
with spine as (
    -- every utc day from the first to the last day with data
    select "day", active_7d from marts.active_daily
),

pings as (
    select cast(received_at as date) as "day", count(*) as pings from main.raw_pings group by 1
),

quarantined as (
    select received_on as "day", count(*) as quarantined
    from main.quarantine
    where received_on is not null
    group by received_on
),

loads as (
    select source, started_at, rows_read from main.load_log
),

payload_keys as (
    select "key", first_day, first_day_instances from intermediate.int_payload_keys
),

bounds as (
    select min("day") as first_day, max("day") as last_day from spine
),

daily as (
    select s."day", s.active_7d, coalesce(p.pings, 0) as pings, coalesce(q.quarantined, 0) as quarantined
    from spine s
    left join pings p using ("day")
    left join quarantined q using ("day")
),

weekday_stats as (
    select
        "day",
        pings,
        -- the same weekday in the 8 weeks before: the spine has every day, so 8 rows back = 8 weeks
        count(*) over same_weekday as weeks_back,
        avg(pings) over same_weekday as mean_pings,
        stddev_samp(pings) over same_weekday as sd_pings
    from daily
    window same_weekday as (partition by dayofweek("day") order by "day" rows between 8 preceding and 1 preceding)
),

pings_check as (
    select
        "day" as checked_day,
        'pings_per_day' as "check",
        'all' as subject,
        cast(pings as double) as value,
        mean_pings - 3 * sd_pings as expected_low,
        mean_pings + 3 * sd_pings as expected_high,
        case when pings = 0 then 'critical' when pings < mean_pings then 'warning' else 'info' end as severity
    from weekday_stats
    where weeks_back = 8 and (pings < mean_pings - 3 * sd_pings or pings > mean_pings + 3 * sd_pings)
),

source_last_new as (
    -- a source counts once it brought new rows on two or more utc days: a one-off import (an old
    -- export loaded once) is not expected to grow and never alerts
    select
        source,
        max(started_at) filter (where rows_read > 0) as last_new,
        count(distinct cast(started_at as date)) filter (where rows_read > 0) as load_days
    from loads
    group by source
),

latest_load as (
    select max(started_at) as load_time from loads
),

stale_check as (
    select
        b.last_day as checked_day,
        'source_stale' as "check",
        s.source as subject,
        -- hours between the source's latest load with new rows (never: its first load) and the latest load
        date_diff('second', s.last_new, l.load_time) / 3600.0 as value,
        cast(null as double) as expected_low,
        36.0 as expected_high,
        'critical' as severity
    from source_last_new s
    cross join latest_load l
    cross join bounds b
    where s.load_days >= 2 and date_diff('second', s.last_new, l.load_time) > 36 * 3600
),

quarantine_check as (
    select
        "day" as checked_day,
        'quarantine_share' as "check",
        'all' as subject,
        quarantined / (quarantined + pings) as value,
        0.0 as expected_low,
        0.01 as expected_high,
        'warning' as severity
    from daily
    where quarantined > 0 and quarantined / (quarantined + pings) > 0.01
),

active_check as (
    select
        "day" as checked_day,
        'active_7d_drop' as "check",
        'all' as subject,
        cast(active_7d as double) as value,
        0.8 * prev_active_7d as expected_low,
        cast(null as double) as expected_high,
        'critical' as severity
    from (select "day", active_7d, lag(active_7d, 7) over (order by "day") as prev_active_7d from spine) w
    where active_7d < 0.8 * prev_active_7d
),

key_check as (
    select
        k.first_day as checked_day,
        'new_payload_key' as "check",
        k."key" as subject,
        cast(k.first_day_instances as double) as value,   -- instances that sent it on its first day
        cast(null as double) as expected_low,
        cast(null as double) as expected_high,
        'info' as severity
    from payload_keys k
    cross join bounds b
    where k.first_day > b.first_day
),

fired as (
    select * from pings_check
    union all select * from stale_check
    union all select * from quarantine_check
    union all select * from active_check
    union all select * from key_check
),

numbered as (
    -- consecutive days of one check and subject share run_key
    select
        *,
        date_diff('day', date '2000-01-01', checked_day)
            - row_number() over (partition by "check", subject order by checked_day) as run_key,
        severity_rank(severity) as severity_rank
    from fired
),

runs_so_far as (
    select
        *,
        min(checked_day) over run as run_first_day,
        count(*) over run as run_days,
        min(severity_rank) over run as run_severity_rank
    from numbered
    window run as (partition by "check", subject, run_key order by checked_day
                   rows between unbounded preceding and current row)
),

final as (
    select
        checked_day,                                                  -- utc date
        "check",
        subject,
        value,
        expected_low,
        expected_high,
        severity,                                                     -- of this day
        run_first_day,                                                -- utc date
        run_days,                                                     -- consecutive days it fired, to this one
        severity_name(run_severity_rank) as run_severity,
        row_number() over (partition by checked_day, "check"
                           order by run_severity_rank, run_days desc, value desc, subject) as rank_on_day
    from runs_so_far
)

select * from final order by checked_day, "check", subject
