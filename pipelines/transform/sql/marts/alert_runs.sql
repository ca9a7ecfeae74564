-- alert_runs: one row per run of an alert: one check firing for one subject on consecutive utc days
-- (a day alone is a run of one day), the alerts mart's row of its last day: its first and last day and
-- days, the worst severity of the run (critical, then warning, then info), the value and expected range
-- of its last day, is_open (the run reaches the last day with data), and within its check and openness:
-- rank_in_check (1 = the worst, then the longest, then the largest last value, then the newest) and
-- runs_in_check. the runs themselves are the alerts mart's (run_first_day, run_days, run_severity).
-- model: kind = "table"
with alerts as (
    select checked_day, "check", subject, value, expected_low, expected_high, run_first_day, run_days, run_severity
    from marts.alerts
),

data_end as (
    select max("day") as last_day from marts.active_daily
),

ranked as (
    select
        *,
        row_number() over (partition by "check", subject, run_first_day order by checked_day desc) as from_last
    from alerts
),

last_days as (
    -- a run's last day: the day whose run goes on no further
    select
        r.*,
        severity_rank(r.run_severity) as severity_rank,
        r.checked_day >= e.last_day as is_open
    from ranked r
    cross join data_end e
    where r.from_last = 1
),

final as (
    select
        "check",
        subject,
        run_first_day as first_day,                                   -- utc date
        checked_day as last_day,                                      -- utc date
        run_days as days,                                             -- consecutive days it fired
        run_severity as severity,
        value,                                                        -- on the last day
        expected_low,
        expected_high,
        is_open,                                                      -- fired on the last day with data
        row_number() over (partition by "check", is_open
                           order by severity_rank, run_days desc, value desc, subject, run_first_day desc) as rank_in_check,
        count(*) over (partition by "check", is_open) as runs_in_check
    from last_days
)

select * from final order by "check", is_open desc, rank_in_check
