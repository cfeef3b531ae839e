-- study.naltrexone_orders: every naltrexone order in the warehouse, and whether it is LDN.
-- Grain: one row per naltrexone order (a core.meds row whose RxNorm code is in
-- naltrexone_rxnorm or whose drug name matches naltrexone_drug_name, and whose drug name
-- matches nothing in naltrexone_excluded_drug_name), for every patient, cohort or not.
-- LDN: daily dose = dose_value x frequency_per_day in mg, at most ldn_max_daily_dose_mg, in an
-- order whose status is not in excluded_order_statuses. The unit decides the factor to mg: 1
-- for a unit of ldn_dose_units (case-insensitive: mg, MG, milligram(s)), 1/1000 for a unit of
-- ldn_dose_units_microgram (mcg, ug, µg, microgram(s)); any other unit gives no daily dose.
-- A missing frequency_per_day is replaced by assumed_frequency_per_day_when_missing when that
-- parameter is set (frequency_assumed), else the order has no daily dose.
-- daily_dose_unknown marks the orders that fall out for want of a dose, a frequency or an
-- accepted unit (study.summary counts them, section data_quality).
-- core.meds.rxnorm_code holds RxNorm codes only (the view filters on the system), so the
-- RxNorm list compares codes.

with

parameters as (
    select
        max(value) filter (where name = 'ldn_max_daily_dose_mg')::double as ldn_max_daily_dose_mg,
        max(value) filter (
            where name = 'assumed_frequency_per_day_when_missing'
        )::double as assumed_frequency_per_day
    from study.config_parameters
),

meds as (
    select * from core.meds
),

naltrexone_meds as (
    select meds.*
    from meds
    where
        (
            study.in_code_list('naltrexone_rxnorm', meds.rxnorm_code)
            or study.in_code_list('naltrexone_drug_name', meds.drug_name)
        )
        and not study.in_code_list('naltrexone_excluded_drug_name', meds.drug_name)
),

classified as (
    select
        naltrexone_meds.*,
        case
            when study.in_code_list('ldn_dose_units', naltrexone_meds.dose_unit) then 1.0::double
            when study.in_code_list('ldn_dose_units_microgram', naltrexone_meds.dose_unit)
                then 0.001::double
        end as dose_unit_to_mg,
        study.in_code_list('excluded_order_statuses', naltrexone_meds.status) as status_excluded
    from naltrexone_meds
),

dosed as (
    select
        classified.*,
        classified.frequency_per_day is null
            and parameters.assumed_frequency_per_day is not null as frequency_assumed,
        round(
            classified.dose_value
            * classified.dose_unit_to_mg
            * coalesce(classified.frequency_per_day, parameters.assumed_frequency_per_day),
            4
        ) as daily_dose_mg
    from classified
    cross join parameters
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
        dosed.frequency_assumed,
        dosed.dose_unit_to_mg,
        dosed.daily_dose_mg,
        not dosed.status_excluded and dosed.daily_dose_mg is null as daily_dose_unknown,
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
            when dosed.frequency_per_day is null and not dosed.frequency_assumed
                then 'no frequency (none assumed: assumed_frequency_per_day_when_missing is empty)'
            when dosed.dose_unit_to_mg is null
                then 'dose unit ' || coalesce(dosed.dose_unit, 'missing') || ' not accepted'
            when dosed.daily_dose_mg <= 0 then 'daily dose not positive'
            when dosed.daily_dose_mg > parameters.ldn_max_daily_dose_mg
                then 'daily dose above ' || parameters.ldn_max_daily_dose_mg || ' mg'
        end
        || case
            when dosed.frequency_assumed and not dosed.status_excluded
                then ' (frequency assumed: ' || parameters.assumed_frequency_per_day || ' per day)'
            else ''
        end as not_ldn_reason
    from dosed
    cross join parameters
)

select * from final
