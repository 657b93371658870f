{#- A model's required columns in one check: one row per listed column that holds NULLs, with
    how many rows do (`column_name`, `null_rows`). One scan of the model, where a not_null test
    per column would scan it once each and report one more check in every build. -#}
{% test required_columns(model, columns) %}
with counted as (
    select
    {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as null_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
select '{{ column }}' as column_name, null_{{ loop.index }} as null_rows from counted where null_{{ loop.index }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
