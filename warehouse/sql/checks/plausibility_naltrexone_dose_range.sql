-- plausibility_naltrexone_dose_range: a naltrexone dose per administration is stated in mg and
-- lies within 0.1-50 mg (LDN capsules 0.5-4.5 mg; standard tablets 50 mg).
-- Grain: one row per naltrexone order with a dose outside that range or in another unit;
-- returns med_id only (never the dose).
-- Scope: RxNorm 7243 or the whole word naltrexone (not methylnaltrexone, a different drug).
-- Denominator: denominators/naltrexone_orders_with_dose.sql (same scope predicate).
SELECT med_id
FROM meds
WHERE (rxnorm_code = '7243' OR regexp_matches(drug_name, '\bnaltrexone\b', 'i'))
  AND dose_value IS NOT NULL
  AND (
        dose_value NOT BETWEEN 0.1 AND 50
        -- A dose in micrograms or without a unit cannot be compared with the mg range.
        OR dose_unit IS NULL
        OR lower(dose_unit) <> 'mg'
    )
