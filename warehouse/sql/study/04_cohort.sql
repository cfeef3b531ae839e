-- study.cohort: the study's patients, with subtype, demographics, comorbidities and the reason
-- for LDN.
-- Grain: one row per included patient (study.screening.included).
-- Age: years at the prescription visit (year of the prescription date minus birth year; the
-- date is shifted by up to a year under profile ED, so the age can be one year off); band by
-- age_band_edges; '90+' when core.patients withholds the birth year for age 90 or more.
-- Comorbidities: any diagnosis of the list comorbidity_<name> (verification not excluded), any
-- date; a display_pattern (the small fiber qualifier) matches the display or the clinician's
-- term code_text.
-- Reason for LDN, from the first LDN order: its reason_code (source 'order_reason_code'), else
-- the Condition it names as its reason ('order_reason_condition'), else the diagnoses recorded
-- at the prescription visit ('prescription_visit_diagnosis'); else 'not_documented'. Within a
-- source the first class that matches wins: pain_fibromyalgia (reason_pain_fibromyalgia), then
-- orthostatic_intolerance (reason_orthostatic_intolerance), then 'other' (any other code).
-- core.meds.reason_code has no system: the reason lists compare codes wherever the source
-- lacks a system.

with

config_codes as (
    select * from study.config_codes
),

age_bands as (
    select
        list_transform(string_split(value, ','), lambda edge: edge::integer) as edges
    from study.config_parameters
    where name = 'age_band_edges'
),

screening as (
    select * from study.screening where included
),

patients as (
    select * from core.patients
),

conditions as (
    select conditions.*
    from core.conditions as conditions
    where study.is_counted_diagnosis(conditions.verification_status)
),

comorbidities as (
    select
        conditions.patient_id,
        list(distinct regexp_replace(config_codes.list_name, '^comorbidity_', '')
            order by regexp_replace(config_codes.list_name, '^comorbidity_', '')) as comorbidities
    from conditions
    inner join config_codes
        on config_codes.list_name like 'comorbidity\_%' escape '\'
        and (config_codes.system is null or config_codes.system = conditions.code_system)
        and study.condition_matches(
            conditions.code, conditions.display, conditions.code_text,
            config_codes.code, config_codes.match, config_codes.display_pattern
        )
    where conditions.patient_id in (select patient_id from screening)
    group by conditions.patient_id
),

first_orders as (
    select
        screening.patient_id,
        screening.prescription_visit_id,
        orders.reason_code,
        orders.reason_condition_id
    from screening
    inner join study.naltrexone_orders as orders
        on orders.med_id = screening.first_ldn_med_id
),

reason_candidates as (
    select
        patient_id,
        1 as source_rank,
        'order_reason_code' as reason_source,
        null::varchar as code_system,
        reason_code as code,
        null::varchar as display,
        null::varchar as code_text
    from first_orders
    where reason_code is not null

    union all

    select
        first_orders.patient_id,
        2 as source_rank,
        'order_reason_condition' as reason_source,
        conditions.code_system,
        conditions.code,
        conditions.display,
        conditions.code_text
    from first_orders
    inner join conditions
        on conditions.condition_id = first_orders.reason_condition_id
    where conditions.code is not null

    union all

    select
        first_orders.patient_id,
        3 as source_rank,
        'prescription_visit_diagnosis' as reason_source,
        conditions.code_system,
        conditions.code,
        conditions.display,
        conditions.code_text
    from first_orders
    inner join conditions
        on conditions.visit_id = first_orders.prescription_visit_id
        and conditions.patient_id = first_orders.patient_id
    where conditions.code is not null
),

classified_reasons as (
    select
        reason_candidates.*,
        case
            when exists (
                select 1
                from config_codes
                where config_codes.list_name = 'reason_pain_fibromyalgia'
                    and (
                        config_codes.system is null
                        or reason_candidates.code_system is null
                        or config_codes.system = reason_candidates.code_system
                    )
                    and study.condition_matches(
                        reason_candidates.code, reason_candidates.display,
                        reason_candidates.code_text,
                        config_codes.code, config_codes.match, config_codes.display_pattern
                    )
            ) then 'pain_fibromyalgia'
            when exists (
                select 1
                from config_codes
                where config_codes.list_name = 'reason_orthostatic_intolerance'
                    and (
                        config_codes.system is null
                        or reason_candidates.code_system is null
                        or config_codes.system = reason_candidates.code_system
                    )
                    and study.condition_matches(
                        reason_candidates.code, reason_candidates.display,
                        reason_candidates.code_text,
                        config_codes.code, config_codes.match, config_codes.display_pattern
                    )
            ) then 'orthostatic_intolerance'
            else 'other'
        end as reason_class
    from reason_candidates
),

reasons as (
    select
        patient_id,
        reason_source,
        code as reason_code,
        reason_class
    from classified_reasons
    qualify row_number() over (
        partition by patient_id
        order by
            source_rank,
            case reason_class
                when 'pain_fibromyalgia' then 1
                when 'orthostatic_intolerance' then 2
                else 3
            end,
            code
    ) = 1
),

ages as (
    select
        screening.patient_id,
        year(screening.prescription_date) - patients.birth_year as age_at_prescription
    from screening
    left join patients
        on patients.patient_id = screening.patient_id
),

final as (
    select
        screening.patient_id,
        screening.subtype,
        patients.sex,
        patients.birth_year,
        ages.age_at_prescription,
        case
            when patients.age_group = '90+' then '90+'
            when ages.age_at_prescription is null then null
            when ages.age_at_prescription < age_bands.edges[1]
                then '<' || age_bands.edges[1]::varchar
            when ages.age_at_prescription >= age_bands.edges[-1]
                then age_bands.edges[-1]::varchar || '+'
            else
                list_max(list_filter(
                    age_bands.edges, lambda edge: edge <= ages.age_at_prescription
                ))::varchar
                || '-'
                || (list_min(list_filter(
                    age_bands.edges, lambda edge: edge > ages.age_at_prescription
                )) - 1)::varchar
        end as age_band,
        coalesce(list_contains(comorbidities.comorbidities, 'fibromyalgia'), false)
            as fibromyalgia,
        coalesce(list_contains(comorbidities.comorbidities, 'small_fiber_neuropathy'), false)
            as small_fiber_neuropathy,
        coalesce(list_contains(comorbidities.comorbidities, 'ehlers_danlos'), false)
            as ehlers_danlos,
        coalesce(list_contains(comorbidities.comorbidities, 'mast_cell_activation'), false)
            as mast_cell_activation,
        coalesce(list_contains(comorbidities.comorbidities, 'migraine'), false)
            as migraine,
        coalesce(list_contains(comorbidities.comorbidities, 'chronic_pain'), false)
            as chronic_pain,
        coalesce(comorbidities.comorbidities, []::varchar[]) as comorbidities,
        reasons.reason_code as ldn_reason_code,
        reasons.reason_source as ldn_reason_source,
        coalesce(reasons.reason_class, 'not_documented') as ldn_reason_class
    from screening
    left join patients
        on patients.patient_id = screening.patient_id
    left join ages
        on ages.patient_id = screening.patient_id
    left join comorbidities
        on comorbidities.patient_id = screening.patient_id
    left join reasons
        on reasons.patient_id = screening.patient_id
    cross join age_bands
)

select * from final
