-- shared cast rules used by the staging models (persistent macros, lowercase sql)

-- a count: a non-negative integer written with digits only, else null
create or replace macro to_count(x) as
    case when regexp_full_match(trim(x), '[0-9]{1,18}') then cast(trim(x) as bigint) end;

-- a flag: t/true/f/false in any case (collector csv or json), else null
create or replace macro to_flag(x) as
    case lower(trim(x))
        when 't' then true when 'true' then true
        when 'f' then false when 'false' then false
    end;

-- a label: trimmed text, 'unreported' when absent or empty
create or replace macro to_label(x) as coalesce(nullif(trim(x), ''), 'unreported');
