-- Failed partitions come from the readiness log every domain writes (current_certification):
-- each domain's loads re-judge them, so rebuild on them.
-- depends_on: {{ source('normalized', 'futures_bars_1m') }}
-- depends_on: {{ source('normalized', 'options_chain_eod') }}
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

evaluated as (
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
),

-- A partition certification left failed is listed with what failed it, as its `certified`
-- verdict: a derived dataset's partition fails with its input, which none of its own checks
-- evaluates, so without this row it would not be listed at all.
failed_partitions as (
    select
        dataset,
        partition_key,
        string_agg(
            coalesce(symbol || ': ', '') || coalesce(reason, 'no reason kept'), '; '
            order by symbol
        ) as reasons,
        max(computed_at) as computed_at,
        arg_max(run_id, computed_at) as run_id
    from ({{ current_certification() }}) as judged
    where certification = 'failed'
    group by dataset, partition_key
),

certification_verdicts as (
    select
        failed.dataset || ':certified|' || failed.partition_key as result_key,
        failed.dataset as asset_key,
        'certified' as check_name,
        failed.dataset || ':certified' as check_key,
        failed.partition_key,
        false as is_passed,
        'ERROR' as severity,
        null::varchar as owner,
        failed.computed_at as last_evaluated_at,
        failed.run_id as last_run_id,
        1::bigint as evaluation_count,
        1::bigint as failure_count,
        'Certification failed: ' || failed.reasons as description,
        json_object('state', 'failed', 'reasons', failed.reasons)::varchar as metadata_json
    from failed_partitions as failed
    anti join evaluated
        on failed.dataset || ':certified' = evaluated.check_key
        and failed.partition_key = evaluated.partition_key
)

select * from evaluated
union all
select * from certification_verdicts
