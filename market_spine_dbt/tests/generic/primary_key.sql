{#- A key column: every row has a value and no two rows share it, in one check (dbt's unique
    and not_null as two would each scan the model and report one more check in every build).
    Returns each offending value (NULL for the missing ones) with how many rows hold it. -#}
{% test primary_key(model, column_name) %}
select {{ column_name }} as key_value, count(*) as rows_with_it
from {{ model }}
group by {{ column_name }}
having {{ column_name }} is null or count(*) > 1
{% endtest %}
