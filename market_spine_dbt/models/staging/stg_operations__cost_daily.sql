with

source as (
    select * from {{ source('operations', 'cost_daily') }}
),

renamed as (
    select
        strftime(day, '%Y-%m-%d') || '|' || component || '|' || dataset as cost_key,
        day,
        component,
        dataset,
        compute_usd,
        requests_usd,
        subscription_usd,
        storage_usd,
        cpu_s,
        peak_memory_mb,
        read_mb,
        written_mb,
        provider_requests,
        current_bytes,
        kept_bytes,
        runs,
        recorded_at,
        coalesce(object_requests_usd, 0) as object_requests_usd,
        object_requests
    from source
)

select * from renamed
