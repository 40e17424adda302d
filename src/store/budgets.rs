//! What each client used today and this month before the process started:
//! the seed of the client budgets (`dailyTokens`, `monthlyCostUsd`), so a
//! restart does not reset them.
//!
//! Whole days come from the daily rollups (kept for the whole current month
//! whatever `STORE_RETENTION_DAYS` says, see `db::prune`); today comes from
//! the rows that arrived before `started_ms`. Requests of this process are
//! counted in memory as they end, so none of them is counted twice.

use rusqlite::{params, Connection};

use super::db::DIM_CLIENT;
use crate::time;

/// One client's use before the process started.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSeed {
    /// The client's name.
    pub client: String,
    /// Tokens (input, cached or not, and output) today, UTC.
    pub day_tokens: u64,
    /// US$ this calendar month, UTC (priced requests only).
    pub month_cost_usd: f64,
}

/// Every client's use today and this month up to `started_ms`.
pub fn client_seeds(conn: &Connection, started_ms: i64) -> rusqlite::Result<Vec<ClientSeed>> {
    let day = time::day_start(started_ms);
    let month = time::month_start(started_ms);
    let mut out: Vec<ClientSeed> = Vec::new();
    let mut add = |client: String, tokens: i64, cost: f64| {
        let tokens = u64::try_from(tokens).unwrap_or(0);
        match out.iter_mut().find(|s| s.client == client) {
            Some(s) => {
                s.day_tokens += tokens;
                s.month_cost_usd += cost;
            }
            None => out.push(ClientSeed {
                client,
                day_tokens: tokens,
                month_cost_usd: cost,
            }),
        }
    };
    let mut days = conn.prepare_cached(
        "SELECT value, SUM(cost_usd) FROM usage
          WHERE span = 86400 AND dim = ?1 AND bucket >= ?2 AND bucket < ?3 AND value != ''
          GROUP BY value",
    )?;
    let rows = days.query_map(params![DIM_CLIENT, month, day], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
    })?;
    for row in rows {
        let (client, cost) = row?;
        add(client, 0, cost);
    }
    let mut today = conn.prepare_cached(
        "SELECT client,
                SUM(COALESCE(input_tokens, 0) + COALESCE(output_tokens, 0)
                    + COALESCE(cache_read_tokens, 0) + COALESCE(cache_write_tokens, 0)),
                SUM(COALESCE(cost_usd, 0))
           FROM requests
          WHERE ts >= ?1 AND ts < ?2 AND client IS NOT NULL
          GROUP BY client",
    )?;
    let rows = today.query_map(params![day, started_ms], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, f64>(2)?,
        ))
    })?;
    for row in rows {
        let (client, tokens, cost) = row?;
        add(client, tokens, cost);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::db;
    use crate::store::RequestRow;

    fn row(id: &str, client: Option<&str>, time_ms: i64, cost: Option<f64>) -> Arc<RequestRow> {
        Arc::new(RequestRow {
            id: id.to_owned(),
            time_ms,
            endpoint: "messages".into(),
            route: "default".into(),
            upstream: Some("deepseek".into()),
            key: None,
            model: Some("claude-sonnet-4-5".into()),
            upstream_model: Some("deepseek-chat".into()),
            stream: false,
            status: 200,
            error_type: None,
            error_message: None,
            latency_ms: 10.0,
            ttfb_ms: None,
            input_tokens: Some(100),
            output_tokens: Some(20),
            cache_read_tokens: Some(3),
            cache_write_tokens: None,
            retries: 0,
            upstreams_tried: 1,
            client_gone: false,
            client: client.map(str::to_owned),
            cost_usd: cost,
        })
    }

    fn writer(dir: &std::path::Path) -> Connection {
        let path = dir.join("requests.db");
        let mut conn = db::open_writer(dir, &path, std::time::Duration::from_secs(1)).unwrap();
        db::migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn seeds_count_today_and_this_month_before_the_start_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = writer(dir.path());
        let at = |t: &str| time::parse_rfc3339(t).unwrap();
        let start = at("2026-12-15T12:00:00Z");
        let rows = [
            // Last month: neither budget.
            row("r1", Some("alice"), at("2026-11-30T23:59:59Z"), Some(9.0)),
            // Earlier this month: the monthly cost only.
            row("r2", Some("alice"), at("2026-12-01T00:00:00Z"), Some(1.25)),
            // Today before the start: both.
            row("r3", Some("alice"), at("2026-12-15T00:00:00Z"), Some(0.5)),
            row("r4", Some("bob"), at("2026-12-15T11:59:59Z"), None),
            // This process's own request: counted in memory, not here.
            row("r5", Some("alice"), start, Some(100.0)),
            // The all-access key has no budget.
            row("r6", None, at("2026-12-15T01:00:00Z"), Some(3.0)),
        ];
        db::insert_batch(&mut conn, &rows, &[]).unwrap();
        let mut seeds = client_seeds(&conn, start).unwrap();
        seeds.sort_by(|a, b| a.client.cmp(&b.client));
        assert_eq!(seeds.len(), 2, "{seeds:?}");
        assert_eq!(seeds[0].client, "alice");
        assert_eq!(seeds[0].day_tokens, 123);
        assert!((seeds[0].month_cost_usd - 1.75).abs() < 1e-9, "{seeds:?}");
        assert_eq!(seeds[1].client, "bob");
        assert_eq!(seeds[1].day_tokens, 123);
        assert_eq!(seeds[1].month_cost_usd, 0.0);
    }

    #[test]
    fn pruning_keeps_this_months_daily_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = writer(dir.path());
        let at = |t: &str| time::parse_rfc3339(t).unwrap();
        let now = at("2026-12-20T12:00:00Z");
        let rows = [
            row("r1", Some("alice"), at("2026-11-20T00:00:00Z"), Some(9.0)),
            row("r2", Some("alice"), at("2026-12-02T00:00:00Z"), Some(1.0)),
        ];
        db::insert_batch(&mut conn, &rows, &[]).unwrap();
        // A one-day retention: both rows go, December's daily rollup stays.
        db::prune(&mut conn, now, now - 86_400_000, 1000).unwrap();
        let seeds = client_seeds(&conn, now).unwrap();
        assert_eq!(seeds.len(), 1, "{seeds:?}");
        assert!((seeds[0].month_cost_usd - 1.0).abs() < 1e-9, "{seeds:?}");
        assert_eq!(seeds[0].day_tokens, 0);
    }
}
