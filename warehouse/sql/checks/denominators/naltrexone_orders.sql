-- Denominator: naltrexone orders (study-ldn.md: RxNorm ingredient 7243, or a drug name with the
-- whole word naltrexone, as in warehouse/study/ldn.yaml: methylnaltrexone, a different drug, is
-- not naltrexone), whatever their dose. Grain: one row per order.
SELECT med_id
FROM meds
WHERE rxnorm_code = '7243' OR regexp_matches(drug_name, '\bnaltrexone\b', 'i')
