-- changes_monthly: one row per month (first day, utc) from the first to the last month with data,
-- dimension and category of change, from transitions_monthly (instances whose reported value changed
-- between consecutive reported days, counted in the month of the change):
--   driver, license_type  the change 'from → to';
--   trial_end             a licence type that followed 'TRIAL' (the trial ended and became it);
--   ce_to_ee              'CE → EE' (a conversion).
-- the 7 categories with the most changes by name, the rest summed as 'other';
-- every month has a row for every category of its dimension (0 when none). dimension_changes: the
-- dimension's changes that month. over the 12 months ending that month (from window_start, the
-- first month with data among them): changes_12m of the category, dimension_changes_12m of the
-- dimension, and share_12m = their ratio (null when the dimension had none).
-- model: kind = "table", time_column = "month"
with transitions as (
    select "month", dimension, from_value, to_value, instances from marts.transitions_monthly
),

months as (
    select distinct cast(date_trunc('month', "day") as date) as "month" from marts.active_daily
),

kinds as (
    select * from (values ('driver'), ('license_type'), ('trial_end'), ('ce_to_ee')) as k(kind)
),

changes as (
    -- each transition once per kind it belongs to (one scan of transitions_monthly)
    select
        t."month",
        k.kind as dimension,
        case k.kind
            when 'trial_end' then t.to_value
            when 'ce_to_ee' then 'CE → EE'
            else t.from_value || ' → ' || t.to_value
        end as value,
        t.instances
    from transitions t
    join kinds k
        on k.kind = t.dimension
        or (k.kind = 'trial_end' and t.dimension = 'license_type' and t.from_value = 'TRIAL')
        or (k.kind = 'ce_to_ee' and t.dimension = 'license_type' and t.from_value = 'CE' and t.to_value = 'EE')
),

sized as (
    select *, sum(instances) over (partition by dimension, value) as value_changes from changes
),

ranked as (
    select
        *,
        dense_rank() over (partition by dimension order by value_changes desc, value) as value_rank
    from sized
),

labelled as (
    select
        "month",
        dimension,
        case when value_rank <= 7 then value else 'other' end as category,
        case when value_rank <= 7 then value_rank else 8 end as category_rank,
        value,
        instances
    from ranked
),

categories as (
    select dimension, category, min(category_rank) as category_rank from labelled group by dimension, category
),

monthly as (
    select "month", dimension, category, count(distinct value) as categories, sum(instances) as instances
    from labelled
    group by "month", dimension, category
),

grid as (
    select
        m."month",
        m.month_no,
        c.dimension,
        c.category,
        c.category_rank,
        coalesce(s.categories, 0) as categories,
        coalesce(s.instances, 0) as instances
    from (select "month", year("month") * 12 + month("month") as month_no from months) m
    cross join categories c
    left join monthly s on s."month" = m."month" and s.dimension = c.dimension and s.category = c.category
),

windowed as (
    select
        *,
        sum(instances) over (partition by dimension, "month") as dimension_changes,
        min("month") over last_12 as window_start,
        sum(instances) over last_12 as changes_12m
    from grid
    window last_12 as (partition by dimension, category order by month_no rows between 11 preceding and current row)
),

final as (
    select
        "month",                                                      -- first day, utc
        dimension,
        category,
        cast(category_rank as integer) as category_rank,              -- 1 first
        categories,                                                   -- distinct changes in the row that month
        cast(instances as bigint) as instances,                       -- changes that month
        cast(dimension_changes as bigint) as dimension_changes,
        window_start,                                                 -- first month of the 12
        cast(changes_12m as bigint) as changes_12m,
        cast(sum(changes_12m) over (partition by dimension, "month") as bigint) as dimension_changes_12m,
        case when sum(changes_12m) over (partition by dimension, "month") > 0
            then changes_12m / sum(changes_12m) over (partition by dimension, "month") end as share_12m
    from windowed
)

select * from final order by "month", dimension, category_rank
