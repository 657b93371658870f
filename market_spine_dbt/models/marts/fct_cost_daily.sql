with

costs as (
    select * from {{ ref('stg_operations__cost_daily') }}
),

priced as (
    select
        cost_key,
        day,
        component,
        dataset,
        compute_usd + requests_usd + subscription_usd + storage_usd + object_requests_usd
            as total_usd,
        compute_usd,
        requests_usd,
        subscription_usd,
        storage_usd,
        object_requests_usd,
        cpu_s,
        peak_memory_mb,
        read_mb,
        written_mb,
        provider_requests,
        object_requests,
        (current_bytes + kept_bytes) / 1e9 as gb_kept,
        runs
    from costs
),

final as (
    select
        *,
        case
            when sum(total_usd) over (partition by day) > 0
                then total_usd / sum(total_usd) over (partition by day)
        end as share_of_day,
        sum(total_usd) over (partition by component order by day) as component_to_date_usd
    from priced
)

select * from final
