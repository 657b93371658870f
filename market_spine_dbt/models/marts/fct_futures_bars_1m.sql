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

-- Each minute keys the contract its own bar names, not the one its day's daily bar names: a
-- minute the stream landed may belong to a session whose daily bar no run has built yet.
contracts_held as (
    select distinct
        root,
        trade_date,
        local_symbol
    from bars
),

contracts as (
    {{ resolve_local_symbols('contracts_held', ref('ref_futures_contracts')) }}
),

final as (
    select
        bars.bar_key,
        bars.bar_ts,
        bars.trade_date,
        'FUT:' || bars.root as root_instrument_key,
        'FUT:' || contracts.contract_code as contract_instrument_key,
        bars.open_price,
        bars.high_price,
        bars.low_price,
        bars.close_price,
        bars.volume,
        bars.vwap,
        bars.trade_count,
        bars.capture_id
    from bars
    left join contracts
        on bars.root = contracts.root
        and bars.trade_date = contracts.trade_date
        and bars.local_symbol = contracts.local_symbol
)

select * from final
