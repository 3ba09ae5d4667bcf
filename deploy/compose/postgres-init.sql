-- One database per service that owns data (a service never reads another's tables).
-- Runs once, when the compose stack's PostgreSQL volume is first initialised.
CREATE DATABASE borealis_auth;
CREATE DATABASE borealis_push_core;
