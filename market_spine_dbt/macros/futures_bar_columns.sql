{#- The renamed OHLCV columns every futures bar staging model shares (minute and daily bars), so
    the marts read the same names from both. -#}
{% macro futures_bar_columns() -%}
        open as open_price,
        high as high_price,
        low as low_price,
        close as close_price,
        volume,
        vwap,
        trades as trade_count
{%- endmacro %}
