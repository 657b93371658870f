{#- The rows an incremental model (re)builds, as a predicate on `column`:
    - MARKET_SPINE_START_DATE and MARKET_SPINE_END_DATE in the environment (Dagster's partitioned
      runs), or `--vars '{start_date: ..., end_date: ...}'`: that inclusive window. Dagster uses
      the environment because dbt parses the whole project again whenever the vars change, and
      only the models calling this macro when these variables do;
    - an incremental run without vars: the last `lookback_days` trade dates already loaded and anything newer;
    - a full build: every row.
    The dates are parsed, so a malformed var fails loudly instead of reaching the SQL. -#}
{% macro trade_date_window(column) -%}
    {%- set start = var('start_date') or env_var('MARKET_SPINE_START_DATE', '') -%}
    {%- set end = var('end_date') or env_var('MARKET_SPINE_END_DATE', '') -%}
    {%- if start and end -%}
        {%- set lo = modules.datetime.date.fromisoformat(start | string) -%}
        {%- set hi = modules.datetime.date.fromisoformat(end | string) -%}
        {{ column }} between date '{{ lo }}' and date '{{ hi }}'
    {%- elif start or end -%}
        {{ exceptions.raise_compiler_error("pass both start_date and end_date, or neither") }}
    {%- elif is_incremental() -%}
        {{ column }} >= (
            select coalesce(max(trade_date), date '1900-01-01') - {{ var('lookback_days') | int }}
            from {{ this }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
