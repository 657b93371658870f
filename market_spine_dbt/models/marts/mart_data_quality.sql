with

results as (
    select * from {{ ref('stg_quality__check_results') }}
),

ranked as (
    select
        *,
        row_number() over by_target as newest_first,
        count(*) over by_target as evaluation_count,
        count(*) filter (where not is_passed) over by_target as failure_count
    from results
    window by_target as (
        partition by check_key, coalesce(partition_key, '')
        order by evaluated_at desc, storage_id desc
        rows between unbounded preceding and unbounded following
    )
),

final as (
    select
        check_key || '|' || coalesce(partition_key, '') as result_key,
        asset_key,
        check_name,
        check_key,
        partition_key,
        is_passed,
        severity,
        owner,
        evaluated_at as last_evaluated_at,
        run_id as last_run_id,
        evaluation_count,
        failure_count,
        description,
        metadata_json
    from ranked
    where newest_first = 1
)

select * from final
