-- study.timepoints: the three study visits of each cohort patient.
-- Grain: one row per cohort patient x timepoint (initial, prescription, follow_up).
-- initial: the first autonomic service visit; prescription: the visit of the first LDN order;
-- follow_up: the first visit follow_up_min_days..follow_up_max_days after the prescription
-- visit with a COMPASS-31 (study.screening has the rules). Dates are the visits' start dates as
-- stored (shifted per patient under profile ED, so differences in days are exact).
-- same_visit_as_prescription: the initial visit is the prescription visit (LDN written at the
-- patient's first autonomic visit), so both timepoints share one visit and one COMPASS-31. Such
-- patients stay in the cohort; study.tests leaves that value out of the initial-vs-prescription
-- comparison. Set on the initial row only (false on the others).

with

screening as (
    select * from study.screening where included
),

visits as (
    select visit_id, service from core.visits
),

timepoints as (
    select
        patient_id,
        'initial' as timepoint,
        1 as timepoint_number,
        initial_visit_id as visit_id,
        initial_date as visit_date,
        prescription_date,
        initial_visit_id = prescription_visit_id as same_visit_as_prescription
    from screening

    union all

    select
        patient_id,
        'prescription' as timepoint,
        2 as timepoint_number,
        prescription_visit_id as visit_id,
        prescription_date as visit_date,
        prescription_date,
        false as same_visit_as_prescription
    from screening

    union all

    select
        patient_id,
        'follow_up' as timepoint,
        3 as timepoint_number,
        follow_up_visit_id as visit_id,
        follow_up_date as visit_date,
        prescription_date,
        false as same_visit_as_prescription
    from screening
),

final as (
    select
        timepoints.patient_id,
        timepoints.timepoint,
        timepoints.timepoint_number,
        timepoints.visit_id,
        timepoints.visit_date,
        date_diff(
            'day', timepoints.prescription_date, timepoints.visit_date
        ) as days_from_prescription,
        visits.service,
        coalesce(timepoints.same_visit_as_prescription, false) as same_visit_as_prescription
    from timepoints
    left join visits
        on visits.visit_id = timepoints.visit_id
)

select * from final
