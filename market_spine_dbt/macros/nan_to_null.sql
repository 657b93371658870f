{#- The greeks engine writes NaN where a vol or greek is undefined; SQL aggregates and range
    tests need NULL there. -#}
{% macro nan_to_null(column) -%}
    case when isnan({{ column }}) then null else {{ column }} end
{%- endmacro %}
