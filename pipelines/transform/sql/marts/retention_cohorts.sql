-- retention_cohorts: per cohort (the utc month an instance was first seen, as its first day) and
-- months since that month (0, 1, 2, ... up to the last month with data): the cohort's size, the
-- instances of it seen in that month (retained) and share = retained / cohort_size. includes_earlier
-- marks the data's first month: its cohort also holds every instance already running when the data
-- starts, so its retention is not that of new instances.
-- model: kind = "table", time_column = "cohort_month"
with instance_months as (
    select instance_id, "month" from intermediate.int_instance_months
),

cohorts as (
    select instance_id, min("month") as cohort_month from instance_months group by instance_id
),

first_month as (
    select min("month") as first_month from instance_months
),

sizes as (
    select cohort_month, count(*) as cohort_size from cohorts group by cohort_month
),

months as (
    -- every month with data (the simulated and real fleets have data in every month)
    select distinct "month" from instance_months
),

grid as (
    select s.cohort_month, s.cohort_size, m."month"
    from sizes s
    join months m on m."month" >= s.cohort_month
),

retained as (
    select c.cohort_month, m."month", count(*) as retained
    from instance_months m
    join cohorts c using (instance_id)
    group by c.cohort_month, m."month"
),

final as (
    select
        g.cohort_month,
        cast((extract(year from g."month") - extract(year from g.cohort_month)) * 12
             + extract(month from g."month") - extract(month from g.cohort_month) as bigint) as months_since,
        g.cohort_size,
        coalesce(r.retained, 0) as retained,
        coalesce(r.retained, 0) / g.cohort_size as share,
        g.cohort_month = f.first_month as includes_earlier
    from grid g
    cross join first_month f
    left join retained r using (cohort_month, "month")
)

select * from final order by cohort_month, months_since
