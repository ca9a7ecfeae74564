-- shared cast rules used by the staging models (persistent macros, lowercase sql); fields.py names,
-- per payload field, the macro that types it (a count, a flag, a text, or a text with its own rule)

-- a count: a non-negative integer written with digits only, else null
create or replace macro to_count(x) as
    case when regexp_full_match(trim(x), '[0-9]{1,18}') then cast(trim(x) as bigint) end;

-- a flag: t/true/f/false in any case (collector csv or json), else null
create or replace macro to_flag(x) as
    case lower(trim(x))
        when 't' then true when 'true' then true
        when 'f' then false when 'false' then false
    end;

-- a text: trimmed, null when absent or empty
create or replace macro to_text(x) as nullif(trim(x), '');

-- a label: trimmed text, 'unreported' when absent or empty
create or replace macro to_label(x) as coalesce(nullif(trim(x), ''), 'unreported');

-- a label compared without case: lower case (drivers) or upper case (licence types)
create or replace macro to_lower_label(x) as to_label(lower(x));
create or replace macro to_upper_label(x) as to_label(upper(x));

-- a flowforge version: trimmed, a leading v dropped, 'unknown' when absent or empty
create or replace macro to_version(x) as coalesce(nullif(regexp_replace(trim(x), '^[vV]', ''), ''), 'unknown');
