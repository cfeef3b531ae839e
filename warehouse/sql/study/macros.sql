-- Macros the study models share (created by build_study before the models, in schema study).
--
-- study.code_matches: does a source code (and its display) match one row of study.config_codes?
--   exact    source code = list code
--   prefix   source code starts with the list code (G43 matches G43.909)
--   regex    the list code is a case-insensitive RE2 regular expression found in the source text
-- A list row with a display_pattern also needs the source display to match it (case-insensitive).
-- Systems are compared by the caller, where the source column carries one.
--
-- study.in_code_list: does a source code (no display, no system) match a row of the named list?
--
-- study.is_counted_diagnosis: a condition counts as a diagnosis unless its verification status
-- is on the list excluded_condition_verification (refuted, entered in error).
--
-- study.condition_matches: the same for a diagnosis (core.conditions), whose wording is in two
-- columns: a display_pattern is satisfied when the coding's display OR the clinician's term
-- (code_text: a term of transforms/deid/terms.yaml, else NULL) matches it.
create or replace macro study.code_matches(
    source_code, source_display, list_code, list_match, list_display_pattern
) as
    coalesce(
        case list_match
            when 'exact' then source_code = list_code
            when 'prefix' then starts_with(source_code, list_code)
            when 'regex' then regexp_matches(source_code, list_code, 'i')
        end,
        false
    )
    and (
        list_display_pattern is null
        or coalesce(regexp_matches(source_display, list_display_pattern, 'i'), false)
    );

create or replace macro study.condition_matches(
    source_code, source_display, source_code_text, list_code, list_match, list_display_pattern
) as
    study.code_matches(
        source_code, source_display, list_code, list_match, list_display_pattern
    )
    or (
        list_display_pattern is not null
        and study.code_matches(
            source_code, source_code_text, list_code, list_match, list_display_pattern
        )
    );

create or replace macro study.in_code_list(wanted_list, source_code) as
    exists (
        select 1
        from study.config_codes as listed
        where listed.list_name = wanted_list
            and study.code_matches(
                source_code, null, listed.code, listed.match, listed.display_pattern
            )
    );

create or replace macro study.is_counted_diagnosis(verification_status) as
    not study.in_code_list('excluded_condition_verification', verification_status);
