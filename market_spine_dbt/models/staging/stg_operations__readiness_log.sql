-- The log is written as the normalized datasets are judged: rebuild when they materialize.
-- depends_on: {{ source('normalized', 'futures_bars_1m') }}
-- depends_on: {{ source('normalized', 'options_chain_eod') }}
with

source as (
    {{ readiness_log() }}
),

renamed as (
    select
        dataset || '|' || partition || '|' || coalesce(symbol, '') as readiness_key,
        dataset,
        partition as partition_key,
        trade_date,
        symbol,
        state,
        reason,
        unit,
        expected,
        present,
        missing,
        no_trade,
        anomalies,
        worst_anomaly_score,
        worst_anomaly_kind,
        capture_id,
        captured_at,
        final_at,
        computed_at,
        run_id,
        delta_version
    from source
)

select * from renamed
