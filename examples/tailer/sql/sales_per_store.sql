SELECT store_id, DATE(ordered_at) AS day, SUM(amount) AS sales
FROM `retail-dev.sales.orders`
WHERE DATE(ordered_at) = DATE_SUB(CURRENT_DATE(), INTERVAL 1 DAY)
GROUP BY store_id, day
ORDER BY store_id
