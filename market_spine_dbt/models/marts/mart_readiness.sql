with

judgments as (
    select * from {{ ref('stg_operations__readiness_log') }}
),

newest as (
    select *
    from judgments
    qualify row_number() over (partition by readiness_key order by computed_at desc) = 1
),

final as (
    select
        readiness_key,
        dataset,
        trade_date,
        symbol,
        partition_key,
        state,
        reason,
        case
            when expected > 0 then (expected - coalesce(missing, 0))::double / expected
        end as completeness,
        unit,
        expected,
        present,
        missing,
        no_trade,
        anomalies,
        worst_anomaly_score,
        worst_anomaly_kind,
        computed_at,
        capture_id,
        captured_at,
        final_at,
        greatest(
            epoch(least(current_timestamp, final_at)) - epoch(captured_at), 0.0
        ) as freshness_lag_s,
        run_id,
        delta_version
    from newest
)

select * from final
