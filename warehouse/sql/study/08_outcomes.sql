-- study.outcomes: pain change and side effects between the prescription and follow-up visits.
-- Grain: one row per cohort patient.
-- Pain at a visit: the mean of the 0-10 scores (list pain_score; values outside 0-10 ignored)
-- of observations referencing the visit; when there are none, of the patient's observations
-- that reference no visit in core.visits and are dated within pain_match_window_days of it.
-- pain_improved: pain at follow-up <= pain at prescription - pain_improvement_points; with
-- pain_improved_finding_enabled, also a coded finding (list pain_improved_finding) at the
-- follow-up visit. NULL when neither scores nor a finding document it.
-- Side effects: adverse events of the patient whose suspect is one of the patient's LDN orders,
-- dated (else their visit's date) from the prescription date to the follow-up date inclusive,
-- with a severity in side_effect_severities (or none recorded) and an actuality not in
-- side_effect_excluded_actualities. The worst severity is the recorded severity that comes last
-- in side_effect_severities (the list runs from least to most severe; config_codes.position).

with

parameters as (
    select
        max(value) filter (where name = 'pain_match_window_days')::integer as pain_window_days,
        max(value) filter (
            where name = 'pain_improvement_points'
        )::double as pain_improvement_points,
        max(value) filter (
            where name = 'pain_improved_finding_enabled'
        )::boolean as finding_enabled
    from study.config_parameters
),

config_codes as (
    select * from study.config_codes
),

screening as (
    select * from study.screening where included
),

study_visits as (
    select
        patient_id,
        'prescription' as timepoint,
        prescription_visit_id as visit_id,
        prescription_date as visit_date
    from screening

    union all

    select
        patient_id,
        'follow_up' as timepoint,
        follow_up_visit_id as visit_id,
        follow_up_date as visit_date
    from screening
),

known_visits as (
    select visit_id, start_date from core.visits
),

observations as (
    select
        observations.*,
        observations.visit_id in (select visit_id from known_visits) as references_known_visit
    from core.observations as observations
    where observations.patient_id in (select patient_id from screening)
),

pain_observations as (
    select observations.*
    from observations
    where observations.value_num between 0 and 10
        and exists (
            select 1
            from config_codes
            where config_codes.list_name = 'pain_score'
                and (config_codes.system is null or config_codes.system = observations.code_system)
                and study.code_matches(
                    observations.code, observations.display,
                    config_codes.code, config_codes.match, config_codes.display_pattern
                )
        )
),

pain_linked as (
    select
        study_visits.patient_id,
        study_visits.timepoint,
        1 as link_rank,
        pain_observations.value_num
    from study_visits
    inner join pain_observations
        on pain_observations.visit_id = study_visits.visit_id
        and pain_observations.patient_id = study_visits.patient_id

    union all

    select
        study_visits.patient_id,
        study_visits.timepoint,
        2 as link_rank,
        pain_observations.value_num
    from study_visits
    inner join pain_observations
        on pain_observations.patient_id = study_visits.patient_id
        and not coalesce(pain_observations.references_known_visit, false)
    cross join parameters
    where abs(date_diff('day', study_visits.visit_date, pain_observations.effective_date))
        <= parameters.pain_window_days
),

pain_by_visit as (
    select
        patient_id,
        timepoint,
        avg(value_num) as pain_score
    from pain_linked
    group by patient_id, timepoint, link_rank
    qualify link_rank = min(link_rank) over (partition by patient_id, timepoint)
),

findings as (
    select distinct study_visits.patient_id
    from study_visits
    inner join observations
        on observations.visit_id = study_visits.visit_id
        and observations.patient_id = study_visits.patient_id
    where study_visits.timepoint = 'follow_up'
        and exists (
            select 1
            from config_codes
            where config_codes.list_name = 'pain_improved_finding'
                and (config_codes.system is null or config_codes.system = observations.code_system)
                and (
                    study.code_matches(
                        observations.code, observations.display,
                        config_codes.code, config_codes.match, config_codes.display_pattern
                    )
                    or study.code_matches(
                        observations.value_code, null,
                        config_codes.code, config_codes.match, config_codes.display_pattern
                    )
                )
        )
),

ldn_orders as (
    select med_id, patient_id from study.naltrexone_orders where is_ldn
),

side_effects as (
    select
        screening.patient_id,
        events.event_id,
        events.event_code,
        events.severity,
        (
            select max(config_codes.position)
            from config_codes
            where config_codes.list_name = 'side_effect_severities'
                and study.code_matches(
                    events.severity, null,
                    config_codes.code, config_codes.match, config_codes.display_pattern
                )
        ) as severity_rank
    from screening
    inner join core.adverse_events as events
        on events.patient_id = screening.patient_id
    inner join ldn_orders
        on ldn_orders.med_id = events.suspect_med_id
        and ldn_orders.patient_id = screening.patient_id
    left join known_visits
        on known_visits.visit_id = events.visit_id
    where coalesce(events.event_date, known_visits.start_date)
            between screening.prescription_date and screening.follow_up_date
        and (
            events.severity is null
            or study.in_code_list('side_effect_severities', events.severity)
        )
        and not study.in_code_list('side_effect_excluded_actualities', events.actuality)
),

side_effect_summary as (
    select
        patient_id,
        count(*) as side_effects,
        count(*) filter (where severity = 'mild') as mild_side_effects,
        arg_max(severity, (severity_rank, severity)) filter (
            where severity_rank is not null
        ) as worst_severity,
        list(distinct event_code order by event_code) filter (
            where event_code is not null
        ) as side_effect_codes
    from side_effects
    group by patient_id
),

scored as (
    select
        screening.patient_id,
        prescription_pain.pain_score as pain_at_prescription,
        follow_up_pain.pain_score as pain_at_follow_up,
        follow_up_pain.pain_score - prescription_pain.pain_score as pain_change,
        follow_up_pain.pain_score
            <= prescription_pain.pain_score - parameters.pain_improvement_points
            as improved_by_score,
        parameters.finding_enabled and findings.patient_id is not null as improved_by_finding
    from screening
    cross join parameters
    left join pain_by_visit as prescription_pain
        on prescription_pain.patient_id = screening.patient_id
        and prescription_pain.timepoint = 'prescription'
    left join pain_by_visit as follow_up_pain
        on follow_up_pain.patient_id = screening.patient_id
        and follow_up_pain.timepoint = 'follow_up'
    left join findings
        on findings.patient_id = screening.patient_id
),

final as (
    select
        scored.patient_id,
        scored.pain_at_prescription,
        scored.pain_at_follow_up,
        scored.pain_change,
        case
            when scored.improved_by_finding then true
            else scored.improved_by_score
        end as pain_improved,
        case
            when scored.improved_by_score then 'score'
            when scored.improved_by_finding then 'finding'
        end as pain_improved_by,
        coalesce(side_effect_summary.side_effects, 0) as side_effects,
        coalesce(side_effect_summary.side_effects, 0) > 0 as side_effect,
        coalesce(side_effect_summary.mild_side_effects, 0) as mild_side_effects,
        side_effect_summary.worst_severity as worst_side_effect_severity,
        coalesce(side_effect_summary.side_effect_codes, []::varchar[]) as side_effect_codes
    from scored
    left join side_effect_summary
        on side_effect_summary.patient_id = scored.patient_id
)

select * from final
