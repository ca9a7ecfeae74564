-- growth_bands: one row per band of flowfuse's grading of week-on-week growth, best first. a growth
-- g (a fraction: 0.031 = +3.1 %) is in a band when it lies between low and high, each bound included
-- when its *_inclusive flag says so (macro in_growth_band); a null bound is open. the bands: >= 6 %
-- exceptional, 4-6 % strong, 2-4 % sustainable, 1-2 % okay, <= 1 % not acceptable.
-- model: kind = "table"
with bands as (
    select * from (values
        (1, 'exceptional', 0.06, true, null, false),
        (2, 'strong', 0.04, true, 0.06, false),
        (3, 'sustainable', 0.02, true, 0.04, false),
        (4, 'okay', 0.01, false, 0.02, false),
        (5, 'not acceptable', null, false, 0.01, true)
    ) as b(band_rank, band, low, low_inclusive, high, high_inclusive)
),

final as (
    select
        cast(band_rank as integer) as band_rank,     -- 1 = best
        band,
        cast(low as double) as low,                  -- fraction; null: no lower bound
        low_inclusive,
        cast(high as double) as high,                -- fraction; null: no upper bound
        high_inclusive
    from bands
)

select * from final order by band_rank
