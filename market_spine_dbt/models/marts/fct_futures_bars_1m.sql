{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='trade_date',
        on_schema_change='fail',
    )
}}

-- Incremental by trade date: a run replaces whole trade dates (Dagster passes the partition
-- window as --vars start_date/end_date), so a re-captured session replaces its old minutes.
with

bars as (
    select *
    from {{ ref('stg_normalized__futures_bars_1m') }}
    where {{ trade_date_window('trade_date') }}
),

contract_days as (
    select
        root,
        trade_date,
        contract_code
    from {{ ref('int_futures__contract_days') }}
),

final as (
    select
        bars.bar_key,
        bars.bar_ts,
        bars.trade_date,
        'FUT:' || bars.root as root_instrument_key,
        'FUT:' || contract_days.contract_code as contract_instrument_key,
        bars.open_price,
        bars.high_price,
        bars.low_price,
        bars.close_price,
        bars.volume,
        bars.vwap,
        bars.trade_count,
        bars.capture_id
    from bars
    left join contract_days
        on bars.root = contract_days.root
        and bars.trade_date = contract_days.trade_date
)

select * from final
