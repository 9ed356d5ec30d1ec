/*
model: fct_cold_chain_daily
description: The longest excursion is part of the minutes above the limit, which are part of the minutes measured (at most 25 hours on a daylight-saving day); a breach is exactly an excursion longer than the rule.
*/
SELECT kiosk_serial_number, sensor_position, date_key, minutes_measured, minutes_above_threshold,
    longest_excursion_minutes, is_breach, breach_after_minutes
FROM fct_cold_chain_daily
WHERE longest_excursion_minutes < 0
    OR longest_excursion_minutes > minutes_above_threshold
    OR minutes_above_threshold > minutes_measured
    OR minutes_measured > 25 * 60
    OR is_breach <> (longest_excursion_minutes > breach_after_minutes)
