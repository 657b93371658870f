{#- A model's value ranges in one check: `ranges` maps a column to its bounds (`min_value`,
    `max_value`, either optional; `inclusive`, default true). Each row breaking a bound is
    returned once per column it breaks, naming the column and its value. NULLs pass: name the
    column in required_columns to refuse them. -#}
{% test accepted_ranges(model, ranges) %}
{%- for column, bounds in ranges.items() %}
{%- set inclusive = bounds.get('inclusive', true) %}
select '{{ column }}' as column_name, cast({{ column }} as double) as value
from {{ model }}
where {{ column }} is not null
  and (
    false
    {%- if bounds.get('min_value') is not none %}
    or {{ column }} {{ '<' if inclusive else '<=' }} {{ bounds['min_value'] }}
    {%- endif %}
    {%- if bounds.get('max_value') is not none %}
    or {{ column }} {{ '>' if inclusive else '>=' }} {{ bounds['max_value'] }}
    {%- endif %}
  )
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
