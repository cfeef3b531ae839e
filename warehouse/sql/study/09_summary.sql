-- study.summary: the published table of study-ldn.md computed from the study tables, with the
-- demographic and comorbidity counts and COMPASS-31 mean +- SD per timepoint and score.
-- Grain: one row per measure (COMPASS-31: per measure x timepoint x score).
-- Counts are patients of study.cohort; percent = 100 * n / denominator, rounded to 2 decimals.
-- Reason classes are percentages of the patients with a documented reason (study-ldn.md);
-- every other percentage is of all cohort patients. Means and sample SDs (n - 1) are over
-- the patients with a value; SD is NULL for fewer than two.
-- Comorbidities: one row per comorbidity_<name> list of the config (study.config_lists, in
-- its order), labelled "comorbidity: " and the list's label (else its description).
-- Data quality (only when there is something to show): naltrexone orders of the warehouse
-- without a daily dose (no dose, no frequency, or a unit in no accepted list), which are not
-- LDN, and the patients with dysautonomia left without an LDN order who have such an order.

with

parameters as (
    select
        max(value) filter (
            where name = 'standard_initial_daily_dose_mg'
        )::double as standard_initial_daily_dose_mg
    from study.config_parameters
),

cohort as (
    select * from study.cohort
),

exposure as (
    select * from study.ldn_exposure
),

outcomes as (
    select * from study.outcomes
),

by_timepoint as (
    select * from study.compass31_by_timepoint
),

comorbidity_lists as (
    select
        regexp_replace(list_name, '^comorbidity_', '') as comorbidity,
        coalesce(label, description) as comorbidity_label,
        row_number() over (order by list_number) as comorbidity_number
    from study.config_lists
    where list_name like 'comorbidity\_%' escape '\'
),

naltrexone_orders as (
    select * from study.naltrexone_orders
),

screening as (
    select * from study.screening
),

totals as (
    select
        count(*) as patients,
        count(*) filter (where ldn_reason_class <> 'not_documented') as reasons_documented
    from cohort
),

patient_count as (
    select
        1 as section_number,
        1 as item_number,
        'cohort' as section,
        'patients' as measure,
        'patients with dysautonomia prescribed LDN, with a follow-up' as label,
        null::varchar as timepoint,
        null::varchar as score,
        patients as n,
        null::bigint as denominator,
        null::double as mean,
        null::double as sd
    from totals
),

subtypes as (
    select
        2 as section_number,
        subtype_number as item_number,
        'subtype' as section,
        'subtype_' || subtype as measure,
        'dysautonomia subtype: ' || subtype_label as label,
        null::varchar as timepoint,
        null::varchar as score,
        (select count(*) from cohort where cohort.subtype = subtypes.subtype) as n,
        totals.patients as denominator,
        null::double as mean,
        null::double as sd
    from (
        values
            (1, 'pots', 'POTS'),
            (2, 'general', 'general dysautonomia'),
            (3, 'stiff_person', 'stiff person syndrome')
    ) as subtypes (subtype_number, subtype, subtype_label)
    cross join totals
),

sexes as (
    select
        3 as section_number,
        row_number() over (order by count(*) desc, coalesce(cohort.sex, 'unknown')) as item_number,
        'demographics' as section,
        'sex_' || coalesce(cohort.sex, 'unknown') as measure,
        'sex: ' || coalesce(cohort.sex, 'unknown') as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from cohort
    cross join totals
    group by cohort.sex
),

age as (
    select
        4 as section_number,
        1 as item_number,
        'demographics' as section,
        'age_at_prescription' as measure,
        'age at the prescription visit (years)' as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(age_at_prescription) as n,
        null::bigint as denominator,
        avg(age_at_prescription) as mean,
        stddev_samp(age_at_prescription) as sd
    from cohort
),

age_bands as (
    select
        5 as section_number,
        row_number() over (
            order by min(cohort.age_at_prescription) nulls last, cohort.age_band
        ) as item_number,
        'demographics' as section,
        'age_band_' || coalesce(cohort.age_band, 'unknown') as measure,
        'age band: ' || coalesce(cohort.age_band, 'unknown') as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from cohort
    cross join totals
    group by cohort.age_band
),

comorbidities as (
    select
        6 as section_number,
        comorbidity_number as item_number,
        'comorbidities' as section,
        'comorbidity_' || comorbidity as measure,
        'comorbidity: ' || comorbidity_label as label,
        null::varchar as timepoint,
        null::varchar as score,
        (
            select count(*)
            from cohort
            where list_contains(cohort.comorbidities, comorbidity_list.comorbidity)
        ) as n,
        totals.patients as denominator,
        null::double as mean,
        null::double as sd
    from comorbidity_lists as comorbidity_list
    cross join totals
),

reasons as (
    select
        7 as section_number,
        reason_number as item_number,
        'reason' as section,
        'reason_' || reason_class as measure,
        label,
        null::varchar as timepoint,
        null::varchar as score,
        case
            when reason_class = 'documented' then totals.reasons_documented
            else (select count(*) from cohort where cohort.ldn_reason_class = reason_class)
        end as n,
        case
            when reason_class in ('documented', 'not_documented') then totals.patients
            else totals.reasons_documented
        end as denominator,
        null::double as mean,
        null::double as sd
    from (
        values
            (1, 'documented', 'reason for LDN documented'),
            (2, 'pain_fibromyalgia', 'reason for LDN: pain or fibromyalgia'),
            (3, 'orthostatic_intolerance', 'reason for LDN: orthostatic intolerance'),
            (4, 'other', 'reason for LDN: other'),
            (5, 'not_documented', 'reason for LDN not documented')
    ) as reason_list (reason_number, reason_class, label)
    cross join totals
),

doses as (
    select
        8 as section_number,
        1 as item_number,
        'dose' as section,
        'initial_dose_standard' as measure,
        'started at '
            || rtrim(rtrim(printf('%.2f', any_value(parameters.standard_initial_daily_dose_mg)), '0'), '.')
            || ' mg daily' as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) filter (where exposure.initial_dose_is_standard) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from exposure
    cross join parameters
    cross join totals

    union all

    select
        8 as section_number,
        2 as item_number,
        'dose' as section,
        'dose_increased' as measure,
        'dose increased by the follow-up visit' as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) filter (where exposure.dose_increased) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from exposure
    cross join totals
),

pain as (
    select
        9 as section_number,
        1 as item_number,
        'pain' as section,
        'pain_improved' as measure,
        'pain improvement documented at follow-up' as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) filter (where outcomes.pain_improved) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from outcomes
    cross join totals
),

side_effects as (
    select
        10 as section_number,
        1 as item_number,
        'side_effects' as section,
        'side_effects' as measure,
        'side effects (any severity) between prescription and follow-up' as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) filter (where outcomes.side_effect) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from outcomes
    cross join totals

    union all

    select
        10 as section_number,
        2 as item_number,
        'side_effects' as section,
        'side_effects_mild' as measure,
        'mild side effects between prescription and follow-up' as label,
        null::varchar as timepoint,
        null::varchar as score,
        count(*) filter (where outcomes.mild_side_effects > 0) as n,
        any_value(totals.patients) as denominator,
        null::double as mean,
        null::double as sd
    from outcomes
    cross join totals
),

unknown_dose_orders as (
    select
        count(*) filter (where daily_dose_unknown) as orders_without_daily_dose,
        count(*) as orders
    from naltrexone_orders
),

patients_lost_to_unknown_doses as (
    select count(*) as patients
    from screening
    where screening.exclusion_reason = 'no_ldn_order'
        and exists (
            select 1
            from naltrexone_orders
            where naltrexone_orders.patient_id = screening.patient_id
                and naltrexone_orders.daily_dose_unknown
        )
),

data_quality as (
    select
        12 as section_number,
        1 as item_number,
        'data_quality' as section,
        'naltrexone_orders_without_daily_dose' as measure,
        'naltrexone orders without a daily dose (no dose, no frequency or a dose unit not '
            || 'accepted): not LDN' as label,
        null::varchar as timepoint,
        null::varchar as score,
        orders_without_daily_dose as n,
        orders as denominator,
        null::double as mean,
        null::double as sd
    from unknown_dose_orders

    union all

    select
        12 as section_number,
        2 as item_number,
        'data_quality' as section,
        'patients_no_ldn_with_order_without_daily_dose' as measure,
        'patients with dysautonomia and no LDN order who have a naltrexone order without a '
            || 'daily dose' as label,
        null::varchar as timepoint,
        null::varchar as score,
        patients_lost_to_unknown_doses.patients as n,
        null::bigint as denominator,
        null::double as mean,
        null::double as sd
    from patients_lost_to_unknown_doses
    cross join unknown_dose_orders
),

compass31_long as (
    select patient_id, timepoint, timepoint_number, score, score_value
    from by_timepoint
    unpivot include nulls (score_value for score in (total, oi, vm, sm, gi, bl, pm))
),

compass31 as (
    select
        11 as section_number,
        any_value(by_timepoint_scores.timepoint_number) * 10 + any_value(score_order.score_number)
            as item_number,
        'compass31' as section,
        'compass31_' || by_timepoint_scores.score as measure,
        'COMPASS-31 ' || any_value(score_order.score_label) || ' at the '
            || replace(by_timepoint_scores.timepoint, '_', '-') || ' visit' as label,
        by_timepoint_scores.timepoint,
        by_timepoint_scores.score,
        count(by_timepoint_scores.score_value) as n,
        null::bigint as denominator,
        avg(by_timepoint_scores.score_value) as mean,
        stddev_samp(by_timepoint_scores.score_value) as sd
    from compass31_long as by_timepoint_scores
    inner join (
        values
            (0, 'total', 'total'),
            (1, 'oi', 'orthostatic intolerance'),
            (2, 'vm', 'vasomotor'),
            (3, 'sm', 'secretomotor'),
            (4, 'gi', 'gastrointestinal'),
            (5, 'bl', 'bladder'),
            (6, 'pm', 'pupillomotor')
    ) as score_order (score_number, score, score_label)
        on score_order.score = by_timepoint_scores.score
    group by by_timepoint_scores.timepoint, by_timepoint_scores.score
),

measures as (
    select * from patient_count
    union all by name select * from subtypes
    union all by name select * from sexes
    union all by name select * from age
    union all by name select * from age_bands
    union all by name select * from comorbidities
    union all by name select * from reasons
    union all by name select * from doses
    union all by name select * from pain
    union all by name select * from side_effects
    union all by name select * from compass31
    union all by name select * from data_quality
),

final as (
    select
        row_number() over (order by section_number, item_number)::integer as measure_number,
        section,
        measure,
        label,
        timepoint,
        score,
        n,
        denominator,
        case
            when denominator > 0 then round(100.0 * n / denominator, 2)
        end as percent,
        round(mean, 4) as mean,
        round(sd, 4) as sd,
        case
            when mean is not null
                then printf('%.2f ± %s (n = %d)', mean, coalesce(printf('%.2f', sd), '-'), n)
            when denominator > 0
                then printf('%.2f %% (%d of %d)', 100.0 * n / denominator, n, denominator)
            else n::varchar
        end as display
    from measures
)

select * from final
