-- Validation queries: the one definition of "the sample data is right".
-- Used by `tripgenctl data validate` (tripgenctl/ops/validation.py runs each block) and, through
-- the generated validate.sql, by the data-validation Job.
--
-- Two kinds of block, each ONE query; a block that cannot run (e.g. its table is missing) fails
-- as a whole:
--   `-- check: <group>`  integrity, always checked: rows of (check, expected, found), passing
--                        when found = expected (tables, orphans, ranges, coordinates, hashes);
--   `-- sample: <group>` what the loaded sample holds: rows of (check, expected, found, minimum,
--                        minimum_met). A database in use (a user added, a trip planned) still
--                        meets the minimum ("at least 10"), which is what `data validate`
--                        checks by default; `--expect-sample` and the data-validation Job (run
--                        right after the load) want the sample exactly: found = expected.
-- Expected numbers are SPEC.md's "Sample data" table; region bounds are sql/generate.py's BOUNDS.

-- check: tables
SELECT 'table ' || t, 'present', CASE WHEN to_regclass('public.' || t) IS NULL THEN 'missing' ELSE 'present' END
FROM unnest(ARRAY['users', 'locations', 'places', 'itinerary_templates', 'template_days', 'itineraries',
                  'itinerary_days', 'itinerary_items', 'user_preferences', 'reviews', 'seasonal_patterns']) WITH ORDINALITY AS x(t, i)
ORDER BY i;

-- sample: count users
SELECT 'count users', '10', count(*)::text, 'at least 10', count(*) >= 10 FROM users;

-- sample: count locations
SELECT 'count locations (destinations)', '100', count(*)::text, 'at least 100', count(*) >= 100 FROM locations;

-- sample: count places
SELECT 'count places', '500', count(*)::text, 'at least 500', count(*) >= 500 FROM places;

-- sample: count itineraries
SELECT 'count itineraries', '20', count(*)::text, 'at least 20', count(*) >= 20 FROM itineraries;

-- sample: count itinerary_templates
SELECT 'count itinerary_templates', '30', count(*)::text, 'at least 30', count(*) >= 30 FROM itinerary_templates;

-- sample: count user_preferences
SELECT 'count user_preferences', '50', count(*)::text, 'at least 50', count(*) >= 50 FROM user_preferences;

-- sample: count reviews
SELECT 'count reviews', '500', count(*)::text, 'at least 500', count(*) >= 500 FROM reviews;

-- sample: seasonal months
SELECT 'seasonal months (distinct)', '12', count(DISTINCT month)::text, 'at least 12', count(DISTINCT month) >= 12 FROM seasonal_patterns;

-- sample: destinations by region
SELECT 'destinations in ' || r, 'present', CASE WHEN count(l.id) > 0 THEN 'present' ELSE 'none' END, 'present', count(l.id) > 0
FROM unnest(ARRAY['SEOUL', 'BUSAN', 'JEJU', 'ABROAD']) WITH ORDINALITY AS x(r, i)
LEFT JOIN locations l ON l.region = x.r
GROUP BY r, i ORDER BY i;

-- sample: named users
SELECT 'user ' || n.username, 'role=' || n.role || ' trips=' || n.trips,
       coalesce('role=' || u.role || ' trips=' || t.trips, 'missing'),
       'role=' || n.role || ' trips>=' || n.trips, coalesce(u.role = n.role AND t.trips >= n.trips, false)
FROM (VALUES (1, 'admin', 'ADMIN', 5),
             (2, 'testuser1', 'USER', 3),
             (3, 'testuser2', 'USER', 2),
             (4, 'poweruser', 'POWER_USER', 7)) AS n(i, username, role, trips)
LEFT JOIN users u ON u.username = n.username
LEFT JOIN LATERAL (SELECT count(*) AS trips FROM itineraries i WHERE i.user_id = u.id) t ON true
ORDER BY n.i;

-- check: password hashes
SELECT 'password hashes are bcrypt', '0 not bcrypt', count(*) FILTER (WHERE password_hash !~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$') || ' not bcrypt'
FROM users;

-- check: foreign keys
SELECT 'no orphans ' || rel, '0', n::text FROM (
    SELECT 1, 'places.location_id -> locations', count(*) FROM places c LEFT JOIN locations p ON p.id = c.location_id WHERE p.id IS NULL
    UNION ALL SELECT 2, 'locations.parent_id -> locations', count(*) FROM locations c LEFT JOIN locations p ON p.id = c.parent_id WHERE c.parent_id IS NOT NULL AND p.id IS NULL
    UNION ALL SELECT 3, 'itineraries.user_id -> users', count(*) FROM itineraries c LEFT JOIN users p ON p.id = c.user_id WHERE p.id IS NULL
    UNION ALL SELECT 4, 'itineraries.location_id -> locations', count(*) FROM itineraries c LEFT JOIN locations p ON p.id = c.location_id WHERE p.id IS NULL
    UNION ALL SELECT 5, 'itineraries.template_id -> itinerary_templates', count(*) FROM itineraries c LEFT JOIN itinerary_templates p ON p.id = c.template_id WHERE c.template_id IS NOT NULL AND p.id IS NULL
    UNION ALL SELECT 6, 'itinerary_days.itinerary_id -> itineraries', count(*) FROM itinerary_days c LEFT JOIN itineraries p ON p.id = c.itinerary_id WHERE p.id IS NULL
    UNION ALL SELECT 7, 'itinerary_items.itinerary_day_id -> itinerary_days', count(*) FROM itinerary_items c LEFT JOIN itinerary_days p ON p.id = c.itinerary_day_id WHERE p.id IS NULL
    UNION ALL SELECT 8, 'itinerary_items.place_id -> places', count(*) FROM itinerary_items c LEFT JOIN places p ON p.id = c.place_id WHERE p.id IS NULL
    UNION ALL SELECT 9, 'itinerary_templates.location_id -> locations', count(*) FROM itinerary_templates c LEFT JOIN locations p ON p.id = c.location_id WHERE p.id IS NULL
    UNION ALL SELECT 10, 'template_days.template_id -> itinerary_templates', count(*) FROM template_days c LEFT JOIN itinerary_templates p ON p.id = c.template_id WHERE p.id IS NULL
    UNION ALL SELECT 11, 'user_preferences.user_id -> users', count(*) FROM user_preferences c LEFT JOIN users p ON p.id = c.user_id WHERE c.user_id IS NOT NULL AND p.id IS NULL
    UNION ALL SELECT 12, 'reviews.user_id -> users', count(*) FROM reviews c LEFT JOIN users p ON p.id = c.user_id WHERE p.id IS NULL
    UNION ALL SELECT 13, 'reviews.place_id -> places', count(*) FROM reviews c LEFT JOIN places p ON p.id = c.place_id WHERE p.id IS NULL
) AS o(i, rel, n)
ORDER BY i;

-- check: ratings
SELECT 'ratings within 1-5', '0 outside', count(*) FILTER (WHERE rating IS NULL OR rating NOT BETWEEN 1 AND 5) || ' outside'
FROM reviews;

-- check: durations
SELECT 'durations 1-7 days (' || what || ')', '0 outside', n || ' outside' FROM (
    SELECT 1, 'itineraries', count(*) FILTER (WHERE duration_days NOT BETWEEN 1 AND 7) FROM itineraries
    UNION ALL SELECT 2, 'itinerary_templates', count(*) FILTER (WHERE duration_days NOT BETWEEN 1 AND 7) FROM itinerary_templates
) AS d(i, what, n)
ORDER BY i;

-- check: coordinates
WITH bounds(i, region, lat_min, lat_max, lon_min, lon_max) AS (
    VALUES (1, 'SEOUL', 37.41, 37.72, 126.76, 127.19),
           (2, 'BUSAN', 34.85, 35.40, 128.75, 129.32),
           (3, 'JEJU', 33.10, 33.60, 126.10, 127.00)
), points(region, lat, lon, centre_lat, centre_lon) AS (
    SELECT region, latitude, longitude, latitude, longitude FROM locations
    UNION ALL
    SELECT l.region, p.latitude, p.longitude, l.latitude, l.longitude FROM places p JOIN locations l ON l.id = p.location_id
)
SELECT c, e, f FROM (
    SELECT b.i, 'coordinates inside ' || b.region || ' bounds', '0 outside',
           count(pt.region) FILTER (WHERE pt.lat NOT BETWEEN b.lat_min AND b.lat_max OR pt.lon NOT BETWEEN b.lon_min AND b.lon_max) || ' outside'
    FROM bounds b LEFT JOIN points pt ON pt.region = b.region
    GROUP BY b.i, b.region
    UNION ALL
    -- abroad: outside every Korean region, and each place within 0.3 degrees of its destination
    SELECT 4, 'coordinates abroad near their city', '0 outside',
           count(*) FILTER (WHERE abs(pt.lat - pt.centre_lat) > 0.3 OR abs(pt.lon - pt.centre_lon) > 0.3
                               OR EXISTS (SELECT 1 FROM bounds b WHERE pt.lat BETWEEN b.lat_min AND b.lat_max
                                                                   AND pt.lon BETWEEN b.lon_min AND b.lon_max)) || ' outside'
    FROM points pt WHERE pt.region = 'ABROAD'
) AS z(i, c, e, f)
ORDER BY i;
