//! The SQLite side of the store: opening (WAL, pragmas, migrations), the
//! batched insert that also keeps the usage rollups, and pruning. Everything
//! here is blocking and runs on the writer thread (or a read connection on
//! the blocking pool); nothing here touches the async runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OpenFlags};

use super::hist;
use super::row::{RequestRow, StoredBodies};

/// The database file inside `DATA_DIR`.
pub const FILE_NAME: &str = "claude-proxy.db";

/// The schema, one migration per entry; schema version `n` is the first
/// `n` applied (`PRAGMA user_version`). Append only.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Rollup bucket lengths in seconds: minute, hour, day.
pub(crate) const SPANS: [i64; 3] = [60, 3600, 86_400];

/// Rollup dimensions (`usage.dim`).
pub(crate) const DIM_ALL: i64 = 0;
pub(crate) const DIM_UPSTREAM: i64 = 1;
pub(crate) const DIM_MODEL: i64 = 2;
pub(crate) const DIM_KEY: i64 = 3;
pub(crate) const DIM_CLIENT: i64 = 4;

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite refused an operation.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// `DATA_DIR` does not exist and cannot be created.
    #[error("cannot create DATA_DIR {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer version whose schema this one does not know.
    #[error(
        "the database has schema version {found}, newer than this claude-proxy knows ({known}): \
         run a newer claude-proxy, or point DATA_DIR elsewhere"
    )]
    NewerSchema {
        /// The database's schema version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
}

/// Creates `dir` (mode 0700: the log says who used which model when) and
/// opens the database in it for writing: WAL, `synchronous=NORMAL` (a power
/// cut may lose the last batches, never the file), the `hist_merge`
/// function, and every pending migration.
pub fn open_writer(dir: &Path, path: &Path, busy_timeout: Duration) -> Result<Connection, DbError> {
    create_private_dir(dir).map_err(|source| DbError::CreateDir {
        dir: dir.to_owned(),
        source,
    })?;
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(busy_timeout)?;
    // The first statement that reads the file: a file that is not a
    // database fails here.
    let version = user_version(&conn)?;
    if version > SCHEMA_VERSION {
        // Not even the journal mode is changed in a newer claude-proxy's file.
        return Err(DbError::NewerSchema {
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        // Only possible before the first table exists: lets pruning give
        // space back with `incremental_vacuum` instead of a full VACUUM.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), journal_mode = %mode, "the request store could not switch to WAL mode; readers may wait for the writer");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.create_scalar_function(
        "hist_merge",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let a = ctx.get_raw(0).as_blob_or_null()?.unwrap_or_default();
            let b = ctx.get_raw(1).as_blob_or_null()?.unwrap_or_default();
            Ok(hist::merge(a, b))
        },
    )?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// A read-only connection (queries of the admin API).
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(conn)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Applies the migrations the database does not have yet, each in its own
/// transaction with its version bump, so a crash leaves a whole version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), DbError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(DbError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(i + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Stored requests (one scan of the smallest index; done once at open, the
/// writer keeps the count after that).
pub(crate) fn count_rows(conn: &Connection) -> rusqlite::Result<u64> {
    let n: i64 = conn.query_row("SELECT count(*) FROM requests", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Takes the write lock and lets it go: whether the database can be
/// written now, without writing anything.
pub(crate) fn probe_write(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
}

const INSERT_REQUEST: &str = "INSERT OR IGNORE INTO requests (
    id, ts, endpoint, route, upstream, key, model, upstream_model, stream, status,
    error_type, error_message, latency_ms, ttfb_ms, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, retries, upstreams_tried, client_gone, client, cost_usd
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";

const UPSERT_USAGE: &str = "INSERT INTO usage (
    span, dim, bucket, value, requests, errors, input_tokens, output_tokens,
    cache_read_tokens, cache_write_tokens, cost_usd, priced, latency_hist, ttfb_hist
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (span, dim, bucket, value) DO UPDATE SET
    requests = requests + excluded.requests,
    errors = errors + excluded.errors,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
    cost_usd = cost_usd + excluded.cost_usd,
    priced = priced + excluded.priced,
    latency_hist = hist_merge(latency_hist, excluded.latency_hist),
    ttfb_hist = hist_merge(ttfb_hist, excluded.ttfb_hist)";

// Bodies of a request that was not stored (its row was dropped) are not
// kept: they would be unreachable.
const INSERT_BODIES: &str = "INSERT OR REPLACE INTO request_bodies (id, ts, request, response)
    SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM requests WHERE id = ?1)";

/// SQLite integers are signed.
fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Writes `rows` and `bodies` in one transaction and folds the rows into
/// the usage rollups; returns how many rows were new.
pub fn insert_batch(
    conn: &mut Connection,
    rows: &[Arc<RequestRow>],
    bodies: &[StoredBodies],
) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let mut inserted = Vec::with_capacity(rows.len());
    {
        let mut ins = tx.prepare_cached(INSERT_REQUEST)?;
        for r in rows {
            let n = ins.execute(params![
                r.id,
                r.time_ms,
                r.endpoint,
                r.route,
                r.upstream,
                r.key,
                r.model,
                r.upstream_model,
                r.stream,
                r.status,
                r.error_type,
                r.error_message,
                r.latency_ms,
                r.ttfb_ms,
                r.input_tokens.map(int),
                r.output_tokens.map(int),
                r.cache_read_tokens.map(int),
                r.cache_write_tokens.map(int),
                r.retries,
                r.upstreams_tried,
                r.client_gone,
                r.client,
                r.cost_usd,
            ])?;
            if n > 0 {
                inserted.push(&**r);
            }
        }
        let mut up = tx.prepare_cached(UPSERT_USAGE)?;
        for ((span, dim, bucket, value), agg) in rollup(&inserted) {
            up.execute(params![
                span,
                dim,
                bucket,
                value,
                agg.requests,
                agg.errors,
                int(agg.input_tokens),
                int(agg.output_tokens),
                int(agg.cache_read_tokens),
                int(agg.cache_write_tokens),
                agg.cost_usd,
                agg.priced,
                hist::encode(&agg.latency),
                hist::encode(&agg.ttfb),
            ])?;
        }
        let mut b = tx.prepare_cached(INSERT_BODIES)?;
        for body in bodies {
            b.execute(params![body.id, body.time_ms, body.request, body.response])?;
        }
    }
    tx.commit()?;
    Ok(inserted.len())
}

/// A rollup row being built from one batch.
#[derive(Default)]
struct Agg {
    requests: i64,
    errors: i64,
    input_tokens: u64,
    output_tokens: u64,
    cache_read_tokens: u64,
    cache_write_tokens: u64,
    cost_usd: f64,
    priced: i64,
    latency: hist::Counts,
    ttfb: hist::Counts,
}

type RollupKey<'a> = (i64, i64, i64, &'a str);

/// A batch folded into rollup rows: every (span, dimension, bucket, value)
/// it touches, once.
fn rollup<'a>(rows: &[&'a RequestRow]) -> HashMap<RollupKey<'a>, Agg> {
    let mut out: HashMap<RollupKey<'a>, Agg> = HashMap::new();
    for r in rows {
        let dims: [(i64, &str); 5] = [
            (DIM_ALL, ""),
            (DIM_UPSTREAM, r.upstream.as_deref().unwrap_or("")),
            (DIM_MODEL, r.usage_model()),
            (DIM_KEY, r.key.as_deref().unwrap_or("")),
            (DIM_CLIENT, r.client.as_deref().unwrap_or("")),
        ];
        for span in SPANS {
            let bucket = bucket_start(r.time_ms, span);
            for (dim, value) in dims {
                let a = out.entry((span, dim, bucket, value)).or_default();
                a.requests += 1;
                a.errors += i64::from(r.is_error());
                a.input_tokens += r.input_tokens.unwrap_or(0);
                a.output_tokens += r.output_tokens.unwrap_or(0);
                a.cache_read_tokens += r.cache_read_tokens.unwrap_or(0);
                a.cache_write_tokens += r.cache_write_tokens.unwrap_or(0);
                if let Some(c) = r.cost_usd {
                    a.cost_usd += c;
                    a.priced += 1;
                }
                hist::add(&mut a.latency, r.latency_ms);
                if let Some(t) = r.ttfb_ms {
                    hist::add(&mut a.ttfb, t);
                }
            }
        }
    }
    out
}

/// The start of the `span`-second bucket holding `ms` (UTC).
pub(crate) fn bucket_start(ms: i64, span: i64) -> i64 {
    ms - ms.rem_euclid(span * 1000)
}

/// What one pruning step removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Request rows deleted.
    pub requests: usize,
    /// More old rows are left (the step stopped at its chunk size).
    pub more: bool,
}

/// Minute rollups are kept for a week at most: minute charts cover hours,
/// and at low traffic a minute rollup row costs as much as a request row.
pub(crate) const MINUTE_ROLLUP_RETENTION_MS: i64 = 7 * 86_400_000;

/// Deletes up to `chunk` requests (and bodies) that arrived before
/// `cutoff_ms`, and every rollup bucket that ended before it (minute
/// buckets: before `now_ms` − `MINUTE_ROLLUP_RETENTION_MS` if that is
/// later), in one short transaction, so new rows are never held up for long
/// behind a big prune.
pub fn prune(
    conn: &mut Connection,
    now_ms: i64,
    cutoff_ms: i64,
    chunk: usize,
) -> rusqlite::Result<Pruned> {
    let chunk = i64::try_from(chunk).unwrap_or(i64::MAX);
    let tx = conn.transaction()?;
    let requests = tx.execute(
        "DELETE FROM requests WHERE seq IN (SELECT seq FROM requests WHERE ts < ?1 LIMIT ?2)",
        params![cutoff_ms, chunk],
    )?;
    let bodies = tx.execute(
        "DELETE FROM request_bodies WHERE rowid IN
            (SELECT rowid FROM request_bodies WHERE ts < ?1 LIMIT ?2)",
        params![cutoff_ms, chunk],
    )?;
    {
        // One range per (span, dim): the primary key's prefix.
        let mut del =
            tx.prepare_cached("DELETE FROM usage WHERE span = ?1 AND dim = ?2 AND bucket < ?3")?;
        for span in SPANS {
            let cutoff = match span {
                60 => cutoff_ms.max(now_ms - MINUTE_ROLLUP_RETENTION_MS),
                // The current month's days seed the client budgets after a
                // restart (`budgets`): kept whatever the retention.
                86_400 => cutoff_ms.min(crate::time::month_start(now_ms)),
                _ => cutoff_ms,
            };
            for dim in DIM_ALL..=DIM_CLIENT {
                del.execute(params![span, dim, cutoff - span * 1000])?;
            }
        }
    }
    tx.commit()?;
    let limit = usize::try_from(chunk).unwrap_or(usize::MAX);
    Ok(Pruned {
        requests,
        more: requests >= limit || bodies >= limit,
    })
}

/// After pruning: hands free pages back to the file system (at most 16 MB
/// per call, bounded work) and refreshes the planner's statistics.
pub fn tidy(conn: &Connection) -> rusqlite::Result<()> {
    // Each step of incremental_vacuum frees one page: a single step (what
    // `execute_batch` does) would free one page per prune.
    let mut vacuum = conn.prepare("PRAGMA incremental_vacuum(4096)")?;
    let mut steps = vacuum.query([])?;
    while steps.next()?.is_some() {}
    conn.execute_batch("PRAGMA optimize;")
}
