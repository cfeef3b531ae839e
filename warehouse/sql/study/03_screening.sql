-- study.screening: who could be in the cohort, and why each patient is in or out.
-- Grain: one row per patient with a dysautonomia diagnosis or a naltrexone order.
-- Inclusion (study-ldn.md), checked in this order; exclusion_reason names the first rule failed:
--   1. a dysautonomia diagnosis (lists dysautonomia_*; verification status not excluded; a
--      display_pattern matches the display or the clinician's term code_text), any date
--                                                                   else 'no_dysautonomia'
--   2. an LDN order (study.naltrexone_orders.is_ldn)                 else 'no_ldn_order'
--   3. a follow-up: the first visit follow_up_min_days..follow_up_max_days days (inclusive)
--      after the prescription visit that has a COMPASS-31 (study.compass31_visits; an
--      autonomic service visit when follow_up_autonomic_only)   else 'no_follow_up'
-- Subtype: stiff_person, else pots, else general (the first list with a diagnosis).
-- Prescription visit: the visit of the first LDN order (earliest authored, then start, then
-- med_id); when that visit is not in core.visits, the patient's visit on the day the order was
-- written (autonomic service first); the prescription date is that visit's start date, else
-- the order's authored date.
-- Initial visit: the patient's first autonomic service visit.

with

parameters as (
    select
        max(value) filter (where name = 'follow_up_min_days')::integer as follow_up_min_days,
        max(value) filter (where name = 'follow_up_max_days')::integer as follow_up_max_days,
        max(value) filter (
            where name = 'follow_up_autonomic_only'
        )::boolean as follow_up_autonomic_only
    from study.config_parameters
),

config_codes as (
    select * from study.config_codes
),

conditions as (
    select conditions.*
    from core.conditions as conditions
    where study.is_counted_diagnosis(conditions.verification_status)
),

dysautonomia_diagnoses as (
    select distinct
        conditions.patient_id,
        config_codes.list_name
    from conditions
    inner join config_codes
        on config_codes.list_name in (
            'dysautonomia_pots', 'dysautonomia_stiff_person', 'dysautonomia_general'
        )
        and (config_codes.system is null or config_codes.system = conditions.code_system)
        and study.condition_matches(
            conditions.code, conditions.display, conditions.code_text,
            config_codes.code, config_codes.match, config_codes.display_pattern
        )
),

subtypes as (
    select
        patient_id,
        case
            when bool_or(list_name = 'dysautonomia_stiff_person') then 'stiff_person'
            when bool_or(list_name = 'dysautonomia_pots') then 'pots'
            else 'general'
        end as subtype
    from dysautonomia_diagnoses
    group by patient_id
),

naltrexone_orders as (
    select * from study.naltrexone_orders
),

order_counts as (
    select
        patient_id,
        count(*) as naltrexone_orders,
        count(*) filter (where is_ldn) as ldn_orders
    from naltrexone_orders
    group by patient_id
),

first_ldn_orders as (
    select
        patient_id,
        med_id,
        visit_id,
        coalesce(authored_date, start_date) as written_date
    from naltrexone_orders
    where is_ldn
    qualify row_number() over (
        partition by patient_id
        order by authored_date nulls last, start_date nulls last, med_id
    ) = 1
),

visits as (
    select
        visits.visit_id,
        visits.patient_id,
        visits.start_date,
        study.in_code_list('autonomic_service', visits.service) as is_autonomic
    from core.visits as visits
),

same_day_visits as (
    select
        first_ldn_orders.patient_id,
        visits.visit_id
    from first_ldn_orders
    inner join visits
        on visits.patient_id = first_ldn_orders.patient_id
        and visits.start_date = first_ldn_orders.written_date
    qualify row_number() over (
        partition by first_ldn_orders.patient_id
        order by visits.is_autonomic desc, visits.visit_id
    ) = 1
),

prescriptions as (
    select
        first_ldn_orders.patient_id,
        first_ldn_orders.med_id as first_ldn_med_id,
        coalesce(order_visits.visit_id, same_day_visits.visit_id) as prescription_visit_id,
        coalesce(
            order_visits.start_date, first_ldn_orders.written_date
        ) as prescription_date
    from first_ldn_orders
    left join visits as order_visits
        on order_visits.visit_id = first_ldn_orders.visit_id
        and order_visits.patient_id = first_ldn_orders.patient_id
    left join same_day_visits
        on same_day_visits.patient_id = first_ldn_orders.patient_id
),

initial_visits as (
    select
        patient_id,
        visit_id as initial_visit_id,
        start_date as initial_date
    from visits
    where is_autonomic
    qualify row_number() over (partition by patient_id order by start_date, visit_id) = 1
),

visits_with_compass31 as (
    select distinct visit_id
    from study.compass31_visits
    where counts_as_filled and visit_id is not null
),

window_visits as (
    select
        prescriptions.patient_id,
        visits.visit_id,
        visits.start_date,
        date_diff('day', prescriptions.prescription_date, visits.start_date) as days_after,
        visits.visit_id in (select visit_id from visits_with_compass31) as has_compass31
    from prescriptions
    inner join visits
        on visits.patient_id = prescriptions.patient_id
    cross join parameters
    where date_diff('day', prescriptions.prescription_date, visits.start_date)
            between parameters.follow_up_min_days and parameters.follow_up_max_days
        and (visits.is_autonomic or not parameters.follow_up_autonomic_only)
),

follow_ups as (
    select
        patient_id,
        visit_id as follow_up_visit_id,
        start_date as follow_up_date,
        days_after as follow_up_days
    from window_visits
    where has_compass31
    qualify row_number() over (partition by patient_id order by start_date, visit_id) = 1
),

window_counts as (
    select
        patient_id,
        count(*) as visits_in_window,
        count(*) filter (where has_compass31) as visits_in_window_with_compass31
    from window_visits
    group by patient_id
),

patients as (
    select patient_id from subtypes
    union
    select patient_id from order_counts
),

screened as (
    select
        patients.patient_id,
        subtypes.patient_id is not null as has_dysautonomia,
        subtypes.subtype,
        coalesce(order_counts.naltrexone_orders, 0) as naltrexone_orders,
        coalesce(order_counts.ldn_orders, 0) as ldn_orders,
        prescriptions.first_ldn_med_id,
        prescriptions.prescription_visit_id,
        prescriptions.prescription_date,
        initial_visits.initial_visit_id,
        initial_visits.initial_date,
        coalesce(window_counts.visits_in_window, 0) as visits_in_window,
        coalesce(
            window_counts.visits_in_window_with_compass31, 0
        ) as visits_in_window_with_compass31,
        follow_ups.follow_up_visit_id,
        follow_ups.follow_up_date,
        follow_ups.follow_up_days,
        case
            when subtypes.patient_id is null then 'no_dysautonomia'
            when prescriptions.patient_id is null then 'no_ldn_order'
            when follow_ups.patient_id is null then 'no_follow_up'
        end as exclusion_reason
    from patients
    left join subtypes
        on subtypes.patient_id = patients.patient_id
    left join order_counts
        on order_counts.patient_id = patients.patient_id
    left join prescriptions
        on prescriptions.patient_id = patients.patient_id
    left join initial_visits
        on initial_visits.patient_id = patients.patient_id
    left join window_counts
        on window_counts.patient_id = patients.patient_id
    left join follow_ups
        on follow_ups.patient_id = patients.patient_id
),

final as (
    select
        screened.*,
        screened.exclusion_reason is null as included
    from screened
)

select * from final
