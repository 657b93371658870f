-- Which listed contract each (root, trade date) held, by the daily bars' local symbol
-- (`resolve_local_symbols`: the one-digit year repeats every decade).
with

daily as (
    select distinct
        root,
        trade_date,
        local_symbol
    from {{ ref('stg_analytics__futures_bars_daily') }}
),

resolved as (
    {{ resolve_local_symbols('daily', ref('ref_futures_contracts')) }}
),

final as (
    select
        root || '|' || strftime(trade_date, '%Y-%m-%d') as contract_day_key,
        root,
        trade_date,
        local_symbol,
        contract_code
    from resolved
)

select * from final
