-- study.compass31_visits: the visit each COMPASS-31 response belongs to.
-- Grain: one row per response of study.compass31_scores (every COMPASS-31 in the warehouse).
-- A response belongs to the visit its encounter reference names (link_method 'encounter'),
-- when that visit is in core.visits and is the same patient's; otherwise to the patient's
-- visit nearest to the authored date within questionnaire_match_window_days (link_method
-- 'date'; ties: the autonomic service's visit, then the earlier one). Otherwise to none.
-- counts_as_filled: the response's status is in compass31_statuses.

with

parameters as (
    select
        max(value) filter (
            where name = 'questionnaire_match_window_days'
        )::integer as window_days
    from study.config_parameters
),

config_codes as (
    select * from study.config_codes
),

responses as (
    select
        response_id,
        patient_id,
        visit_id as referenced_visit_id,
        authored_date,
        status
    from study.compass31_scores
),

visits as (
    select
        visits.visit_id,
        visits.patient_id,
        visits.start_date,
        study.in_code_list('autonomic_service', visits.service) as is_autonomic
    from core.visits as visits
),

encounter_links as (
    select
        responses.response_id,
        visits.visit_id,
        visits.start_date as visit_date,
        'encounter' as link_method
    from responses
    inner join visits
        on visits.visit_id = responses.referenced_visit_id
        and visits.patient_id = responses.patient_id
),

date_candidates as (
    select
        responses.response_id,
        visits.visit_id,
        visits.start_date as visit_date,
        visits.is_autonomic,
        abs(date_diff('day', visits.start_date, responses.authored_date)) as distance_days
    from responses
    inner join visits
        on visits.patient_id = responses.patient_id
    cross join parameters
    where responses.response_id not in (select response_id from encounter_links)
        and abs(date_diff('day', visits.start_date, responses.authored_date))
            <= parameters.window_days
),

date_links as (
    select
        response_id,
        visit_id,
        visit_date,
        'date' as link_method
    from date_candidates
    qualify row_number() over (
        partition by response_id
        order by distance_days, is_autonomic desc, visit_date, visit_id
    ) = 1
),

links as (
    select * from encounter_links
    union all
    select * from date_links
),

final as (
    select
        responses.response_id,
        responses.patient_id,
        responses.referenced_visit_id,
        responses.authored_date,
        responses.status,
        exists (
            select 1
            from config_codes
            where config_codes.list_name = 'compass31_statuses'
                and study.code_matches(
                    responses.status, null,
                    config_codes.code, config_codes.match, config_codes.display_pattern
                )
        ) as counts_as_filled,
        links.visit_id,
        links.visit_date,
        links.link_method,
        date_diff('day', links.visit_date, responses.authored_date) as days_from_visit
    from responses
    left join links
        on links.response_id = responses.response_id
)

select * from final
