/*
model: stg_transaction_items
description: Every line item states the quantity and money the sales marts compute with (quantity, price, vatRate, discount, total and cost, all required by the contract). A line without them (a dropped field, money that is not a number) would make revenue, tax or margin wrong, so the build fails and the previous marts stay. An incremental build checks the lines of the transactions it rebuilt (the others were checked when they were built).
changed_keys_of: fct_sales
*/
SELECT _dlt_parent_id, line_number, quantity, unit_price, vat_rate, discount, total, unit_cost
FROM stg_transaction_items
WHERE changed_rows(_dlt_parent_id, _dlt_id)
    AND (
        quantity IS NULL
        OR unit_price IS NULL
        OR vat_rate IS NULL
        OR discount IS NULL
        OR total IS NULL
        OR unit_cost IS NULL
    )
