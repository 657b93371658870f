{#- The certification each partition of `datasets` (all judged datasets when none) holds now:
    its newest judgment in the readiness log, per dataset, trade date and symbol.

    Read from the log's source, not from a model, for two reasons:
    - The log is the trust table every domain writes, so a model over all of it would be
      rebuilt on every domain's loads and would rebuild every mart that reads it: a futures
      load would make the option marts stale. The log's source is no automation upstream (no
      asset materializes it; the domains' loads write it), so a mart reading it is rebuilt only
      by its own inputs. Each mart names with `-- depends_on` the domain load that re-judges
      its partitions (a failed re-import withdraws the certification of what was computed from
      it), so its column is current after any run of its domain, and only of its domain.
    - A source's view exists whenever dbt connects, so a mart built alone (a subset build, or
      the automation requesting only it on a fresh warehouse) never needs a relation that was
      not built yet, and its unit tests give the log's rows as their fixture. -#}
{% macro current_certification(datasets=none) -%}
    select
        dataset,
        trade_date,
        symbol,
        partition as partition_key,
        state as certification,
        reason,
        computed_at,
        run_id
    from ({{ readiness_log() }}) as judgments
    {%- if datasets is not none %}
    where dataset in ({% for d in datasets %}'{{ d }}'{{ ", " if not loop.last }}{% endfor %})
    {%- endif %}
    qualify row_number() over (
        partition by dataset, trade_date, symbol order by computed_at desc
    ) = 1
{%- endmacro %}
