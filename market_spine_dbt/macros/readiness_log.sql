{#- The readiness log's rows as the lake holds them. A log written before reasons were kept has
    no reason column: it reads as null. -#}
{% macro readiness_log() -%}
    select * from {{ source('operations', 'readiness_log') }}
    union all by name
    select null::varchar as reason where false
{%- endmacro %}
