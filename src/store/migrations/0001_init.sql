-- Schema 1 of the request store (src/store/db.rs applies it once, in a
-- transaction, and sets PRAGMA user_version = 1). Migrations are append-only:
-- a later change is a new file, never an edit of this one.

-- One row per finished request. `seq` (the rowid) is the order rows were
-- written in, which is the order requests finished in: the request log is
-- listed newest first by it, and keyset pagination uses it.
CREATE TABLE requests (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT    NOT NULL,            -- req_… (the request-id header)
    ts                 INTEGER NOT NULL,            -- arrival, ms since the Unix epoch (UTC)
    endpoint           TEXT    NOT NULL,            -- messages | count_tokens
    route              TEXT    NOT NULL,            -- default, think, …, '-' before one was chosen
    upstream           TEXT,
    key                TEXT,                        -- masked fingerprint, never a key
    model              TEXT,                        -- as requested
    upstream_model     TEXT,                        -- as sent upstream
    stream             INTEGER NOT NULL,
    status             INTEGER NOT NULL,
    error_type         TEXT,
    error_message      TEXT,
    latency_ms         REAL    NOT NULL,
    ttfb_ms            REAL,
    input_tokens       INTEGER,                     -- NULL when the upstream reported no usage
    output_tokens      INTEGER,
    cache_read_tokens  INTEGER,
    cache_write_tokens INTEGER,
    retries            INTEGER NOT NULL,
    upstreams_tried    INTEGER NOT NULL,
    client_gone        INTEGER NOT NULL,
    client             TEXT,
    cost_usd           REAL                         -- NULL when the model has no price
);
CREATE UNIQUE INDEX requests_id ON requests(id);
-- Retention pruning.
CREATE INDEX requests_ts ON requests(ts);
-- Filters of the request log. An index on one column holds the rowid too, so
-- rows of one value come out in `seq` order and `ORDER BY seq DESC LIMIT n`
-- reads n entries, however common or rare the value.
CREATE INDEX requests_upstream ON requests(upstream);
CREATE INDEX requests_model ON requests(model);
CREATE INDEX requests_upstream_model ON requests(upstream_model);
CREATE INDEX requests_status ON requests(status);
CREATE INDEX requests_errors ON requests(seq) WHERE status >= 400 OR error_message IS NOT NULL;

-- STORE_BODIES=true: the first 4 KB of each body, credentials redacted.
CREATE TABLE request_bodies (
    id       TEXT    PRIMARY KEY,
    ts       INTEGER NOT NULL,
    request  TEXT,
    response TEXT
);
CREATE INDEX request_bodies_ts ON request_bodies(ts);

-- Usage rollups, kept up to date by the writer in the same transaction as
-- the rows: one row per bucket (`span` seconds: 60, 3600 or 86400, starting
-- at `bucket`, ms since the epoch, UTC) and group (`dim` 0 all, 1 upstream,
-- 2 model, 3 key, 4 client; `value` is the group's name, '' for all or
-- unknown). An aggregate reads exactly the rows it answers with, so it costs
-- the same on a million stored requests as on ten.
CREATE TABLE usage (
    span               INTEGER NOT NULL,
    dim                INTEGER NOT NULL,
    bucket             INTEGER NOT NULL,
    value              TEXT    NOT NULL,
    requests           INTEGER NOT NULL,
    errors             INTEGER NOT NULL,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    cost_usd           REAL    NOT NULL,            -- sum over the rows with a price
    priced             INTEGER NOT NULL,            -- how many rows had a price
    latency_hist       BLOB    NOT NULL,            -- src/store/hist.rs
    ttfb_hist          BLOB    NOT NULL,
    PRIMARY KEY (span, dim, bucket, value)
) WITHOUT ROWID;
