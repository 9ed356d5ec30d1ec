/*
model: fct_transactions
scope: changed_rows
description: A transaction's gross (its total) equals the sum of its lines' gross, and its item count the sum of their quantities.
*/
WITH lines AS (
    SELECT transaction_id, sum(gross_amount) AS lines_gross, sum(quantity) AS lines_quantity
    FROM fct_sales
    GROUP BY transaction_id
)
SELECT t.transaction_id, t.gross_amount, COALESCE(l.lines_gross, 0) AS lines_gross, t.item_count,
    COALESCE(l.lines_quantity, 0) AS lines_quantity
FROM fct_transactions AS t
LEFT JOIN lines AS l ON l.transaction_id = t.transaction_id
WHERE t.gross_amount <> COALESCE(l.lines_gross, 0)
    OR t.item_count <> COALESCE(l.lines_quantity, 0)
