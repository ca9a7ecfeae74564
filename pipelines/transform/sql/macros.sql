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

-- a flowforge version (to_version's text) as a sortable number, major * 1000000 + minor * 1000 + patch
-- (2.7.0 -> 2007000, 2.7.0-git too); null when it does not start with X.Y.Z: a version that cannot be read
create or replace macro version_rank(v) as
    case when regexp_matches(v, '^[0-9]{1,6}\.[0-9]{1,3}\.[0-9]{1,3}')
        then cast(split_part(v, '.', 1) as bigint) * 1000000 + cast(split_part(v, '.', 2) as bigint) * 1000
             + cast(regexp_extract(split_part(v, '.', 3), '^[0-9]+') as bigint)
    end;

-- a minor line ('X.Y', stg_pings.version_minor) as a sortable number, major * 1000 + minor (2.24 -> 2024);
-- null for 'unknown' and for a line of more than 6 major or 3 minor digits (as version_rank), which cannot be
-- placed among the releases and must not break a cast (a hostile 99999999999.1.0 did)
create or replace macro line_key(m) as
    case when regexp_full_match(m, '[0-9]{1,6}\.[0-9]{1,3}')
        then cast(split_part(m, '.', 1) as integer) * 1000 + cast(split_part(m, '.', 2) as integer)
    end;

-- a landed value of a key that the sender's version predates is unknown, whatever the source stored (the
-- collector's ADD COLUMN ... DEFAULT 0 backfilled 0 into older rows); an unreadable version keeps the value
create or replace macro known_since(value, sender_rank, since_rank) as
    case when sender_rank < since_rank then null else value end;

-- the one development-build rule: a version with a pre-release suffix such as 2.6.0-git
create or replace macro is_dev_version(v) as regexp_matches(v, '^[0-9]+(\.[0-9]+)*-');

-- whether a growth g lies in a band of marts.growth_bands (bounds as that table gives them; a null
-- bound is open); the one grading rule of week-on-week growth
create or replace macro in_growth_band(g, low, low_inclusive, high, high_inclusive) as
    g is not null
    and (low is null or g > low or (low_inclusive and g = low))
    and (high is null or g < high or (high_inclusive and g = high));

-- the one order of alert severities (marts.alerts, marts.alert_runs): critical 1, warning 2, info 3, and back
create or replace macro severity_rank(s) as case s when 'critical' then 1 when 'warning' then 2 else 3 end;
create or replace macro severity_name(r) as case r when 1 then 'critical' when 2 then 'warning' else 'info' end;

-- whether the utc days first_of .. last_of (a week; a week and the week before it; a window and the same
-- window 7 days earlier) all lie between the first and the last day with data, data_first .. data_last (a
-- gap inside the data does not count here: alert_runs names it): the one rule by which a period is
-- complete and a change on the period before is known (data that starts on a thursday has a partial
-- first week, whose count is no base for a change)
create or replace macro within_data(first_of, last_of, data_first, data_last) as
    first_of >= data_first and last_of <= data_last;
