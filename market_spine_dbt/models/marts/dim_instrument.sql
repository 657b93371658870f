with

roots as (
    select * from {{ ref('ref_futures_roots') }}
),

contracts as (
    select * from {{ ref('ref_futures_contracts') }}
),

option_roots as (
    select * from {{ ref('ref_option_roots') }}
),

observed as (
    select
        contract_code,
        min(trade_date) as first_trade_date_seen,
        max(trade_date) as last_trade_date_seen
    from {{ ref('int_futures__contract_days') }}
    group by contract_code
),

future_roots as (
    select
        'FUT:' || root as instrument_key,
        'future_root' as instrument_type,
        root,
        name,
        exchange,
        venue,
        currency,
        tick_size,
        multiplier
    from roots
),

future_contracts as (
    select
        'FUT:' || contracts.contract_code as instrument_key,
        'future_contract' as instrument_type,
        contracts.root,
        'FUT:' || contracts.root as parent_instrument_key,
        roots.name
        || ' '
        || strftime(make_date(contracts.contract_year, contracts.contract_month, 1), '%b %Y')
            as name,
        roots.exchange,
        roots.venue,
        roots.currency,
        roots.tick_size,
        roots.multiplier,
        contracts.contract_code,
        contracts.local_symbol,
        contracts.contract_year,
        contracts.contract_month,
        contracts.front_start_date,
        contracts.roll_date,
        contracts.last_trade_date as expiry_date,
        observed.first_trade_date_seen,
        observed.last_trade_date_seen
    from contracts
    inner join roots on contracts.root = roots.root
    left join observed on contracts.contract_code = observed.contract_code
),

option_root_rows as (
    select
        'OPT:' || root as instrument_key,
        'option_root' as instrument_type,
        root,
        name,
        exchange,
        venue,
        currency,
        multiplier,
        underlying,
        settlement,
        settle_time_et
    from option_roots
),

final as (
    select * from future_roots
    union all by name
    select * from future_contracts
    union all by name
    select * from option_root_rows
)

select
    instrument_key,
    instrument_type,
    root,
    parent_instrument_key,
    name,
    exchange,
    venue,
    currency,
    tick_size,
    multiplier,
    contract_code,
    local_symbol,
    contract_year,
    contract_month,
    front_start_date,
    roll_date,
    expiry_date,
    first_trade_date_seen,
    last_trade_date_seen,
    underlying,
    settlement,
    settle_time_et
from final
