-- The certification each partition of a certified dataset holds now: its newest judgment in
-- the readiness log, per dataset, trade date and symbol. The marts over certified data join
-- it so every row says whether it may be trusted, as Spine and the API say it.
with

judgments as (
    select * from {{ ref('stg_operations__readiness_log') }}
),

final as (
    select
        dataset || '|' || strftime(trade_date, '%Y-%m-%d') || '|' || coalesce(symbol, '')
            as certification_key,
        dataset,
        trade_date,
        symbol,
        partition_key,
        state as certification,
        reason,
        computed_at,
        run_id
    from judgments
    qualify row_number() over (
        partition by dataset, trade_date, symbol order by computed_at desc
    ) = 1
)

select * from final
