-- Each row's certification is its partition's in the readiness log (current_certification,
-- which says why the log is read as a source). Loads of this domain's chains re-judge it, so
-- they rebuild this mart, and no other domain's do.
-- depends_on: {{ source('normalized', 'options_chain_eod') }}
with

surface as (
    select * from {{ ref('stg_analytics__vol_surface_daily') }}
),

option_roots as (
    select
        root,
        venue
    from {{ ref('ref_option_roots') }}
),

certification as (
    select
        trade_date,
        symbol,
        certification
    from ({{ current_certification(['analytics/vol_surface_daily']) }}) as judged
),

final as (
    select
        surface.surface_key,
        surface.trade_date,
        'OPT:' || surface.root as root_instrument_key,
        option_roots.venue || '|' || strftime(surface.trade_date, '%Y-%m-%d') as date_key,
        surface.expiration_date,
        datediff('day', surface.trade_date, surface.expiration_date) as days_to_expiry,
        surface.years_to_expiry,
        surface.forward_price,
        surface.atm_vol,
        -- Total implied variance, the quantity that must not decrease with expiry.
        surface.atm_vol * surface.atm_vol * surface.years_to_expiry as atm_total_variance,
        surface.risk_reversal_25d,
        surface.butterfly_25d,
        surface.strike_count,
        -- A row no judgment covers is not certified: it reads as preliminary.
        coalesce(certification.certification, 'preliminary') as certification
    from surface
    left join option_roots on surface.root = option_roots.root
    left join certification
        on surface.trade_date = certification.trade_date
        and surface.root = certification.symbol
)

select * from final
