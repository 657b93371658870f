-- Which listed contract each (root, trade date) held. Bars carry the exchange local symbol with
-- a one-digit year (CLJ4), which repeats every decade: the contract meant is the first one with
-- that symbol not yet expired on the trade date.
with

daily as (
    select
        root,
        trade_date,
        local_symbol
    from {{ ref('stg_analytics__futures_bars_daily') }}
),

contracts as (
    select
        contract_code,
        root,
        local_symbol,
        last_trade_date
    from {{ ref('ref_futures_contracts') }}
),

candidates as (
    select
        daily.root,
        daily.trade_date,
        daily.local_symbol,
        contracts.contract_code,
        row_number() over (
            partition by daily.root, daily.trade_date
            order by contracts.last_trade_date
        ) as nearest
    from daily
    left join contracts
        on daily.root = contracts.root
        and daily.local_symbol = contracts.local_symbol
        and daily.trade_date <= contracts.last_trade_date
),

final as (
    select
        root || '|' || strftime(trade_date, '%Y-%m-%d') as contract_day_key,
        root,
        trade_date,
        local_symbol,
        contract_code
    from candidates
    where nearest = 1
)

select * from final
