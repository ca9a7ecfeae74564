-- alert_runs: one row per run of an alert: one check firing for one subject on consecutive utc days
-- (a day alone is a run of one day), from the alerts mart: its first and last day and days, the worst
-- severity of the run (critical, then warning, then info), the value and expected range of its last
-- day, is_open (the run reaches the last day with data), and within its check and openness:
-- rank_in_check (1 = the worst, then the longest, then the largest last value, then the newest) and
-- runs_in_check.
-- model: kind = "table"
with alerts as (
    select checked_day, "check", subject, value, expected_low, expected_high, severity from marts.alerts
),

data_end as (
    select max("day") as last_day from marts.active_daily
),

numbered as (
    -- consecutive days of one check and subject share run_key
    select
        *,
        date_diff('day', date '2000-01-01', checked_day)
            - row_number() over (partition by "check", subject order by checked_day) as run_key,
        case severity when 'critical' then 1 when 'warning' then 2 else 3 end as severity_rank
    from alerts
),

runs as (
    select
        "check",
        subject,
        run_key,
        min(checked_day) as first_day,
        max(checked_day) as last_day,
        count(*) as days,
        min(severity_rank) as severity_rank
    from numbered
    group by "check", subject, run_key
),

last_days as (
    select r.*, n.value, n.expected_low, n.expected_high, r.last_day >= e.last_day as is_open
    from runs r
    join numbered n on n."check" = r."check" and n.subject = r.subject and n.checked_day = r.last_day
    cross join data_end e
),

final as (
    select
        "check",
        subject,
        first_day,                                                    -- utc date
        last_day,                                                     -- utc date
        days,                                                         -- consecutive days it fired
        case severity_rank when 1 then 'critical' when 2 then 'warning' else 'info' end as severity,
        value,                                                        -- on the last day
        expected_low,
        expected_high,
        is_open,                                                      -- fired on the last day with data
        row_number() over (partition by "check", is_open
                           order by severity_rank, days desc, value desc, subject, first_day desc) as rank_in_check,
        count(*) over (partition by "check", is_open) as runs_in_check
    from last_days
)

select * from final order by "check", is_open desc, rank_in_check
