{#- Models land in the schema their folder names (staging, intermediate, marts, reference), not
    "<target schema>_<name>": analysts query marts.fct_futures_bars_daily. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
