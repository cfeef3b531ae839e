-- Denominator: naltrexone orders (study-ldn.md: RxNorm ingredient 7243, or a drug name matching
-- naltrexone), whatever their dose. Grain: one row per order.
SELECT med_id
FROM meds
WHERE rxnorm_code = '7243' OR drug_name ILIKE '%naltrexone%'
