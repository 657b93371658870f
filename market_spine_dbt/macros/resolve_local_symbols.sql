{#- The listed contract each (root, trade_date, local_symbol) row of `held` means, as `contract_code`
    from `contracts` (ref_futures_contracts). A local symbol has a one-digit year (CLJ4) that repeats
    every decade: the contract meant is the first one with that symbol not yet expired on the trade
    date; NULL when the reference lists none. One row per distinct (root, trade_date, local_symbol). -#}
{% macro resolve_local_symbols(held, contracts) -%}
    select
        root,
        trade_date,
        local_symbol,
        contract_code
    from (
        select
            held.root,
            held.trade_date,
            held.local_symbol,
            listed.contract_code,
            row_number() over (
                partition by held.root, held.trade_date, held.local_symbol
                order by listed.last_trade_date
            ) as nearest
        from {{ held }} as held
        left join {{ contracts }} as listed
            on held.root = listed.root
            and held.local_symbol = listed.local_symbol
            and held.trade_date <= listed.last_trade_date
    ) as candidates
    where nearest = 1
{%- endmacro %}
