-- The app's own role and database, next to Temporal's (temporal, temporal_visibility, which
-- temporal-admin-tools creates). The postgres image runs this once, as the POSTGRES_USER
-- superuser, when it initialises an empty data volume (/docker-entrypoint-initdb.d); to
-- re-run it, remove the volume (docker compose down -v).
--
-- Keep the name and password in step with JOURNEYS_DATABASE_URL in docker-compose.yml
-- (tests/deploy/test_compose.py checks that they match).
CREATE ROLE journeys WITH LOGIN PASSWORD 'journeys';
CREATE DATABASE journeys OWNER journeys;
-- Only the owner (and superusers) may connect; `journeys migrate` creates the tables as owner.
REVOKE ALL ON DATABASE journeys FROM PUBLIC;
