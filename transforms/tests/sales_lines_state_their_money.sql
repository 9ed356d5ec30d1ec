/*
model: stg_transaction_items
description: Every line item states the quantity and money the sales marts compute with (quantity, price, vatRate, discount, total and cost, all required by the contract). A line without them (a dropped field, money that is not a number) would make revenue, tax or margin wrong, so the build fails and the previous marts stay.
*/
SELECT _dlt_parent_id, line_number, quantity, unit_price, vat_rate, discount, total, unit_cost
FROM stg_transaction_items
WHERE quantity IS NULL
    OR unit_price IS NULL
    OR vat_rate IS NULL
    OR discount IS NULL
    OR total IS NULL
    OR unit_cost IS NULL
