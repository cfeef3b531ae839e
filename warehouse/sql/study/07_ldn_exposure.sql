-- study.ldn_exposure: LDN dose at the start and by the follow-up, per cohort patient.
-- Grain: one row per cohort patient.
-- initial: the first LDN order (study.screening.first_ldn_med_id) and its daily dose.
-- final: the latest LDN order authored on or before the follow-up visit's date (latest
-- authored, then latest start, then the highest med_id); increased = final > initial daily dose.
-- days_on_ldn: from the start of the first LDN order's dosing period (else its authored date)
-- to the latest end of any LDN order's dosing period (else its start or authored date): the
-- span the orders document, not proof of adherence.

with

parameters as (
    select
        max(value) filter (
            where name = 'standard_initial_daily_dose_mg'
        )::double as standard_initial_daily_dose_mg
    from study.config_parameters
),

screening as (
    select * from study.screening where included
),

ldn_orders as (
    select * from study.naltrexone_orders where is_ldn
),

initial_orders as (
    select
        screening.patient_id,
        ldn_orders.med_id,
        ldn_orders.daily_dose_mg,
        coalesce(ldn_orders.start_date, ldn_orders.authored_date) as started_date
    from screening
    inner join ldn_orders
        on ldn_orders.med_id = screening.first_ldn_med_id
),

orders_by_follow_up as (
    select
        screening.patient_id,
        ldn_orders.med_id,
        ldn_orders.daily_dose_mg,
        ldn_orders.authored_date,
        ldn_orders.start_date
    from screening
    inner join ldn_orders
        on ldn_orders.patient_id = screening.patient_id
        and coalesce(ldn_orders.authored_date, ldn_orders.start_date) <= screening.follow_up_date
),

final_orders as (
    select
        patient_id,
        med_id,
        daily_dose_mg
    from orders_by_follow_up
    qualify row_number() over (
        partition by patient_id
        order by authored_date desc nulls last, start_date desc nulls last, med_id desc
    ) = 1
),

order_summary as (
    select
        screening.patient_id,
        count(*) as ldn_orders,
        count(*) filter (
            where coalesce(ldn_orders.authored_date, ldn_orders.start_date)
                <= screening.follow_up_date
        ) as ldn_orders_by_follow_up,
        max(
            coalesce(ldn_orders.end_date, ldn_orders.start_date, ldn_orders.authored_date)
        ) as last_ldn_date
    from screening
    inner join ldn_orders
        on ldn_orders.patient_id = screening.patient_id
    group by screening.patient_id
),

final as (
    select
        screening.patient_id,
        initial_orders.med_id as initial_med_id,
        initial_orders.daily_dose_mg as initial_daily_dose_mg,
        abs(
            initial_orders.daily_dose_mg - parameters.standard_initial_daily_dose_mg
        ) < 1e-9 as initial_dose_is_standard,
        final_orders.med_id as final_med_id,
        final_orders.daily_dose_mg as final_daily_dose_mg,
        final_orders.daily_dose_mg > initial_orders.daily_dose_mg as dose_increased,
        final_orders.daily_dose_mg - initial_orders.daily_dose_mg as dose_change_mg,
        order_summary.ldn_orders,
        order_summary.ldn_orders_by_follow_up,
        initial_orders.started_date as first_ldn_date,
        order_summary.last_ldn_date,
        date_diff('day', initial_orders.started_date, order_summary.last_ldn_date) as days_on_ldn
    from screening
    left join initial_orders
        on initial_orders.patient_id = screening.patient_id
    left join final_orders
        on final_orders.patient_id = screening.patient_id
    left join order_summary
        on order_summary.patient_id = screening.patient_id
    cross join parameters
)

select * from final
