-- study.compass31_by_timepoint: the COMPASS-31 scores of each cohort patient at each timepoint.
-- Grain: one row per cohort patient x timepoint (as study.timepoints; NULL scores when the
-- visit has no COMPASS-31).
-- The response of a visit: among the filled responses study.compass31_visits assigns to it,
-- an encounter-linked one first, then the one authored nearest the visit, then a complete one
-- (total not NULL), then the latest authored, then the lowest response_id.
-- Scores are the weighted domain scores and total of study.compass31_scores, unrounded.
-- same_visit_as_prescription (study.timepoints): the initial row's visit is the prescription
-- visit, so its scores are the prescription row's.

with

timepoints as (
    select * from study.timepoints
),

assigned as (
    select
        compass31_visits.visit_id,
        compass31_visits.response_id,
        compass31_visits.link_method,
        compass31_visits.days_from_visit,
        compass31_visits.authored_date,
        scores.total
    from study.compass31_visits as compass31_visits
    inner join study.compass31_scores as scores
        on scores.response_id = compass31_visits.response_id
    where compass31_visits.counts_as_filled
        and compass31_visits.visit_id is not null
),

chosen as (
    select
        visit_id,
        response_id,
        link_method,
        count(*) over (partition by visit_id) as responses_at_visit
    from assigned
    qualify row_number() over (
        partition by visit_id
        order by
            link_method = 'encounter' desc,
            abs(days_from_visit),
            total is not null desc,
            authored_date desc nulls last,
            response_id
    ) = 1
),

final as (
    select
        timepoints.patient_id,
        timepoints.timepoint,
        timepoints.timepoint_number,
        timepoints.visit_id,
        timepoints.visit_date,
        timepoints.same_visit_as_prescription,
        chosen.response_id,
        chosen.link_method,
        coalesce(chosen.responses_at_visit, 0) as responses_at_visit,
        scores.score_source,
        scores.incomplete,
        scores.total,
        scores.weighted_oi as oi,
        scores.weighted_vm as vm,
        scores.weighted_sm as sm,
        scores.weighted_gi as gi,
        scores.weighted_bl as bl,
        scores.weighted_pm as pm,
        scores.scorer_version
    from timepoints
    left join chosen
        on chosen.visit_id = timepoints.visit_id
    left join study.compass31_scores as scores
        on scores.response_id = chosen.response_id
)

select * from final
