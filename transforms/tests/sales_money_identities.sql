/*
model: fct_sales
scope: changed_rows
description: Every sales line satisfies gross = net + tax and profit = net - cost, and net is not above gross.
*/
SELECT transaction_id, line_number, gross_amount, net_amount, tax_amount, cost_amount, profit_amount
FROM fct_sales
WHERE gross_amount <> net_amount + tax_amount
    OR profit_amount <> net_amount - cost_amount
    OR abs(net_amount) > abs(gross_amount)
