{#- The renamed columns every option-contract staging model shares (the greeks table extends the
    normalized chain), so the two stay named alike. -#}
{% macro option_contract_columns() -%}
        osi || '|' || strftime(trade_date, '%Y-%m-%d') as option_day_key,
        trade_date,
        osi,
        root,
        expiration as expiration_date,
        strike,
        "right" as option_right,
        bid,
        ask,
        mid,
        bid_size,
        ask_size,
        volume,
        open_interest,
        underlying_price,
        days_to_expiry,
        t as years_to_expiry
{%- endmacro %}
