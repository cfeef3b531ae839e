-- study.naltrexone_orders: every naltrexone order in the warehouse, and whether it is LDN.
-- Grain: one row per naltrexone order (a core.meds row whose RxNorm code is in
-- naltrexone_rxnorm or whose drug name matches naltrexone_drug_name, and whose drug name
-- matches nothing in naltrexone_excluded_drug_name), for every patient, cohort or not.
-- LDN: daily dose = dose_value x frequency_per_day, in a unit of ldn_dose_units, at most
-- ldn_max_daily_dose_mg, in an order whose status is not in excluded_order_statuses.
-- core.meds.rxnorm_code holds RxNorm codes only (the view filters on the system), so the
-- RxNorm list compares codes.

with

parameters as (
    select
        max(value) filter (where name = 'ldn_max_daily_dose_mg')::double as ldn_max_daily_dose_mg
    from study.config_parameters
),

config_codes as (
    select * from study.config_codes
),

meds as (
    select * from core.meds
),

naltrexone_meds as (
    select meds.*
    from meds
    where
        (
            exists (
                select 1
                from config_codes
                where config_codes.list_name = 'naltrexone_rxnorm'
                    and study.code_matches(
                        meds.rxnorm_code, null,
                        config_codes.code, config_codes.match, config_codes.display_pattern
                    )
            )
            or exists (
                select 1
                from config_codes
                where config_codes.list_name = 'naltrexone_drug_name'
                    and study.code_matches(
                        meds.drug_name, null,
                        config_codes.code, config_codes.match, config_codes.display_pattern
                    )
            )
        )
        and not exists (
            select 1
            from config_codes
            where config_codes.list_name = 'naltrexone_excluded_drug_name'
                and study.code_matches(
                    meds.drug_name, null,
                    config_codes.code, config_codes.match, config_codes.display_pattern
                )
        )
),

classified as (
    select
        naltrexone_meds.*,
        exists (
            select 1
            from config_codes
            where config_codes.list_name = 'ldn_dose_units'
                and study.code_matches(
                    naltrexone_meds.dose_unit, null,
                    config_codes.code, config_codes.match, config_codes.display_pattern
                )
        ) as dose_unit_accepted,
        exists (
            select 1
            from config_codes
            where config_codes.list_name = 'excluded_order_statuses'
                and study.code_matches(
                    naltrexone_meds.status, null,
                    config_codes.code, config_codes.match, config_codes.display_pattern
                )
        ) as status_excluded
    from naltrexone_meds
),

dosed as (
    select
        classified.*,
        case
            when dose_unit_accepted then round(dose_value * frequency_per_day, 4)
        end as daily_dose_mg
    from classified
),

final as (
    select
        dosed.med_id,
        dosed.patient_id,
        dosed.visit_id,
        dosed.authored_date,
        dosed.start_date,
        dosed.end_date,
        dosed.status,
        dosed.rxnorm_code,
        dosed.drug_name,
        dosed.dose_value,
        dosed.dose_unit,
        dosed.frequency_per_day,
        dosed.daily_dose_mg,
        dosed.reason_code,
        dosed.reason_condition_id,
        (
            not dosed.status_excluded
            and dosed.daily_dose_mg is not null
            and dosed.daily_dose_mg > 0
            and dosed.daily_dose_mg <= parameters.ldn_max_daily_dose_mg
        ) as is_ldn,
        case
            when dosed.status_excluded then 'order status ' || dosed.status
            when dosed.dose_value is null then 'no dose'
            when dosed.frequency_per_day is null then 'no frequency'
            when not dosed.dose_unit_accepted
                then 'dose unit ' || coalesce(dosed.dose_unit, 'missing') || ' not accepted'
            when dosed.daily_dose_mg <= 0 then 'daily dose not positive'
            when dosed.daily_dose_mg > parameters.ldn_max_daily_dose_mg
                then 'daily dose above ' || parameters.ldn_max_daily_dose_mg || ' mg'
        end as not_ldn_reason
    from dosed
    cross join parameters
)

select * from final
