-- calendar_months: one row per calendar month (first day, utc) from the first to the last month with
-- data: days_of_data, the days of the month from the first to the last day with data, and complete,
-- every day of the month lies between them (within_data: not a partial first month, not the month in
-- progress). the pages' "last complete month" is the last complete one on or before the as-of day.
-- model: kind = "table", time_column = "month"
with days as (
    select "day" from marts.active_daily                              -- every day, first to last (a spine)
),

data_span as (
    select min("day") as first_day, max("day") as last_day from days
),

months as (
    select cast(date_trunc('month', "day") as date) as "month", count(*) as days_of_data
    from days
    group by all
),

final as (
    select
        m."month",                                                    -- first day, utc
        cast(m.days_of_data as integer) as days_of_data,              -- days of the month in the data
        within_data(m."month", last_day(m."month"), e.first_day, e.last_day) as complete
    from months m
    cross join data_span e
)

select * from final order by "month"
