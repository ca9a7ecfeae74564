-- retention_day28: per cohort (the utc month an instance was first seen, as its first day): its size,
-- the instances first seen at least 28 days before the last day with data (eligible: the others
-- cannot have been seen 28 days later yet), those of them seen again 28 or more days after their
-- first day (retained_day_28), share = retained_day_28 / eligible (null when none is eligible) and
-- whole_from, the day the cohort's last instance to arrive becomes eligible (its first day + 28): a
-- report as of that day or later can quote the whole cohort.
-- model: kind = "table", time_column = "cohort_month"
with instance_months as (
    select instance_id, first_day, last_day from intermediate.int_instance_months
),

data_end as (
    select max(last_day) as last_day from instance_months
),

lifetimes as (
    select instance_id, min(first_day) as first_day, max(last_day) as last_day from instance_months group by instance_id
),

flagged as (
    select
        cast(date_trunc('month', l.first_day) as date) as cohort_month,
        l.first_day,
        l.first_day + 28 <= e.last_day as eligible,
        l.last_day >= l.first_day + 28 as retained          -- its last day is 28 or more days after its first
    from lifetimes l
    cross join data_end e
),

counted as (
    select
        cohort_month,
        count(*) as cohort_size,
        count(*) filter (where eligible) as eligible,
        count(*) filter (where retained) as retained_day_28,
        max(first_day) + 28 as whole_from
    from flagged
    group by cohort_month
),

final as (
    select
        cohort_month,
        cohort_size,
        eligible,
        retained_day_28,
        case when eligible > 0 then retained_day_28 / eligible end as share,
        cast(whole_from as date) as whole_from   -- utc day from which every instance of the cohort is eligible
    from counted
)

select * from final order by cohort_month
