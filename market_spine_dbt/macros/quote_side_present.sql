{#- Whether one side of an option quote exists: vendors send an absent side as a zero price
    (ThetaData: ask 0 with ask size 0 when nobody offers), so a side needs a positive price and a
    size that is not zero. The same rule as market_spine.options.quote_sides. -#}
{% macro quote_side_present(price, size) -%}
    coalesce({{ price }} > 0 and not isnan({{ price }}) and coalesce({{ size }} <> 0, true), false)
{%- endmacro %}
