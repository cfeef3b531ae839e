-- Denominator: naltrexone orders that state a dose (the rows a dose-range check can judge).
-- Grain: one row per order.
SELECT med_id
FROM meds
WHERE (rxnorm_code = '7243' OR regexp_matches(drug_name, '\bnaltrexone\b', 'i'))
  AND dose_value IS NOT NULL
