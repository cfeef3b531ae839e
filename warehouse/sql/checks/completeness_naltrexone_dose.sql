-- completeness_naltrexone_dose: every naltrexone order states a dose per administration.
-- Without it the order cannot be classed as LDN (<= 5 mg per day) or standard (50 mg) naltrexone.
-- Grain: one row per naltrexone order without dose_value; returns med_id only.
-- Scope: RxNorm 7243 or the whole word naltrexone (not methylnaltrexone, a different drug).
-- Denominator: denominators/naltrexone_orders.sql (same scope predicate).
SELECT med_id
FROM meds
WHERE (rxnorm_code = '7243' OR regexp_matches(drug_name, '\bnaltrexone\b', 'i'))
  AND dose_value IS NULL
