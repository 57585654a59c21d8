//! Aurora for tests: a throw-away PostgreSQL database behind the RDS Data API stand-in, with the
//! two secrets a deployment has (the schema owner's and the agent's read-only user's) in moto's
//! Secrets Manager, migrated by the real `agent migrate` command.

use anyhow::Context;

use crate::moto::Moto;
use crate::postgres::{SUPERUSER, TestDatabase};
use crate::rds_data::{self, CLUSTER_ARN, RdsDataStandIn};
use crate::workspace;

/// The read-only user's password (the stand-in's PostgreSQL trusts local connections, so only
/// the user name matters to it).
const READER_PASSWORD: &str = "reader-Secret-1";

/// A database, its Data API and its secrets.
pub struct Aurora {
    pub database: TestDatabase,
    pub data_api: RdsDataStandIn,
    pub admin_secret_arn: String,
    pub reader_secret_arn: String,
    /// The read-only user `agent migrate` sets up (unique per database).
    pub reader: String,
    moto_endpoint: String,
}

impl Aurora {
    /// An empty database with its secrets and Data API; nothing migrated yet.
    pub async fn start(moto: &Moto) -> anyhow::Result<Self> {
        let database = TestDatabase::create().await?;
        let data_api = RdsDataStandIn::start(moto).await?;
        let secrets = rds_data::secrets_manager_client(&moto.endpoint).await;
        let suffix = &database.name()["test_".len()..];
        let reader = format!("reader_{suffix}");
        let admin_secret_arn = rds_data::create_db_secret(
            &secrets,
            &format!("aurora-admin-{suffix}"),
            SUPERUSER,
            "unused",
            None,
        )
        .await?;
        let reader_secret_arn = rds_data::create_db_secret(
            &secrets,
            &format!("aurora-reader-{suffix}"),
            &reader,
            READER_PASSWORD,
            None,
        )
        .await?;
        Ok(Self {
            database,
            data_api,
            admin_secret_arn,
            reader_secret_arn,
            reader,
            moto_endpoint: moto.endpoint.clone(),
        })
    }

    /// A database migrated and seeded with the demo data by `agent migrate --seed`.
    pub async fn seeded(moto: &Moto) -> anyhow::Result<Self> {
        let aurora = Self::start(moto).await?;
        aurora.migrate(&["--seed"]).await?;
        Ok(aurora)
    }

    /// What the agent needs to use this database with its read-only user.
    pub fn agent_env(&self) -> Vec<(String, String)> {
        [
            ("AURORA_CLUSTER_ARN", CLUSTER_ARN),
            ("AURORA_SECRET_ARN", self.reader_secret_arn.as_str()),
            ("AURORA_DATABASE", self.database.name()),
            ("AWS_ENDPOINT_URL_RDS_DATA", self.data_api.endpoint.as_str()),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                self.moto_endpoint.as_str(),
            ),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Runs `agent migrate <args>` and fails with its output unless it succeeds.
    pub async fn migrate(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let output = self.run_migrate(args).await?;
        anyhow::ensure!(
            output.status.success(),
            "agent migrate failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output)
    }

    /// Runs `agent migrate <args>` and returns how it ended.
    pub async fn run_migrate(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        let mut command = tokio::process::Command::new(workspace::binary("agent"));
        command
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AURORA_ADMIN_SECRET_ARN", &self.admin_secret_arn)
            .envs(self.agent_env())
            .arg("migrate")
            .args(args)
            .kill_on_drop(true);
        tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
            .await
            .context("agent migrate did not finish within 60 s")?
            .context("running agent migrate")
    }
}
