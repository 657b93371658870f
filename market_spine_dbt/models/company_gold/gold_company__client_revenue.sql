-- An owner's gold model over the company staging views (PII already masked there): revenue
-- per tenant and client from orders not cancelled, with the client's current segment.
select
    orders.tenant,
    orders.client_id,
    clients.segment,
    count(*) as orders,
    sum(orders.amount) as revenue
from {{ ref('stg_company__orders') }} as orders
left join {{ ref('stg_company__clients') }} as clients
    on clients.tenant = orders.tenant
    and clients.client_id = orders.client_id
    and clients.is_current
where orders.status <> 'cancelled'
group by orders.tenant, orders.client_id, clients.segment
