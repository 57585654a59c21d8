//! The `seed` command: creates any missing table (with its indexes) and loads the demo data
//! set, dated relative to today. Safe to run again: it only creates what is missing and
//! rewrites the fixture's own records.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use service_runtime::signed_cursor::CursorSigner;

use crate::config::{SeedConfig, StoreConfig};
use crate::fixture::Dataset;
use crate::store::Store;

pub async fn run(store_config: &StoreConfig, seed_config: &SeedConfig) -> anyhow::Result<()> {
    let dataset = Dataset::dated(Utc::now().date_naive())?;
    let store = Store::connect(store_config, CursorSigner::new()?).await;
    let created = store
        .create_missing_tables(Duration::from_secs(seed_config.table_wait_seconds))
        .await
        .context("creating tables")?;
    tracing::info!(created = created.join(","), "tables ready");
    let counts = store
        .load(&dataset)
        .await
        .context("loading the demo data")?;
    tracing::info!(
        reviews = counts.reviews,
        warranties = counts.warranties,
        tickets = counts.tickets,
        "demo data loaded"
    );
    Ok(())
}
