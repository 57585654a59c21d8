//! Throw-away PostgreSQL databases on the local server (127.0.0.1:5432, superuser `postgres`,
//! trusted local connections): one per test, with a unique name, dropped when the test ends.
//!
//! The RDS Data stand-in ([`crate::rds_data`]) runs statements on these databases as the user a
//! test's secret names; [`TestDatabase::create_role`] makes such users, with exactly the grants
//! a test gives them. Roles belong to the whole server, so their names end with the database's
//! unique suffix ([`TestDatabase::role_name`]), and every role so named, however it was made
//! (e.g. by a migration the test runs), is dropped with the database. Dropping uses `DROP
//! DATABASE ... WITH (FORCE)`, which ends the sessions still connected (a stand-in's pooled
//! connections), on a thread of its own, since `Drop` cannot await.
//!
//! If PostgreSQL is down: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main
//! start`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

pub const HOST: &str = "127.0.0.1";
pub const PORT: u16 = 5432;
pub const SUPERUSER: &str = "postgres";

/// How long connecting, creating the database, and each clean-up statement may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Makes names unique within this process; the process id makes them unique across test
/// binaries running at once.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A database that exists until this value is dropped.
pub struct TestDatabase {
    name: String,
    /// A superuser session in the database, for setting it up.
    admin: Client,
}

impl TestDatabase {
    /// Creates an empty database with a unique name, owned by the superuser.
    pub async fn create() -> anyhow::Result<Self> {
        let suffix = format!(
            "{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let name = format!("test_{suffix}");
        let server = connect("postgres").await?;
        let create = format!("CREATE DATABASE {}", quote_identifier(&name));
        tokio::time::timeout(TIMEOUT, server.batch_execute(&create))
            .await
            .with_context(|| format!("creating database {name} timed out"))?
            .with_context(|| format!("creating database {name}"))?;
        let admin = connect(&name).await?;
        Ok(Self { name, admin })
    }

    /// The database's name (lowercase letters, digits and `_`, so it needs no quoting).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `<prefix>_<this database's unique suffix>`: the name for a role of this database's
    /// test, which is dropped with the database.
    pub fn role_name(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.suffix())
    }

    /// `_<pid>_<counter>_<random>`, what the database's name and its roles' names end with.
    fn suffix(&self) -> &str {
        &self.name["test".len()..]
    }

    /// A connection URL for the superuser.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@{HOST}:{PORT}/{}", self.name)
    }

    /// Runs one or more `;`-separated statements as the superuser.
    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        self.admin
            .batch_execute(sql)
            .await
            .with_context(|| format!("running as {SUPERUSER} in {}: {sql}", self.name))
    }

    /// Runs a query as the superuser and returns its rows.
    pub async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> anyhow::Result<Vec<Row>> {
        self.admin
            .query(sql, params)
            .await
            .with_context(|| format!("querying as {SUPERUSER} in {}: {sql}", self.name))
    }

    /// Creates a login role named [`Self::role_name`]`(prefix)` with `password`, and runs
    /// `GRANT <grant> TO <role>` for each of `grants` (e.g. `"SELECT ON orders"`,
    /// `"INSERT, UPDATE ON ALL TABLES IN SCHEMA public"`). Returns the role's name.
    pub async fn create_role(
        &self,
        prefix: &str,
        password: &str,
        grants: &[&str],
    ) -> anyhow::Result<String> {
        let role = self.role_name(prefix);
        let quoted = quote_identifier(&role);
        self.execute(&format!(
            "CREATE ROLE {quoted} LOGIN PASSWORD {}",
            quote_literal(password)
        ))
        .await?;
        for grant in grants {
            self.execute(&format!("GRANT {grant} TO {quoted}")).await?;
        }
        Ok(role)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let suffix = self.suffix().to_owned();
        // A thread with its own runtime, since the test's runtime may be the one blocked here.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("building a runtime")?;
            runtime.block_on(drop_database(&name, &suffix))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("cannot drop the test database: {error:#}"),
            Err(_) => eprintln!("dropping the test database panicked"),
        }
    }
}

/// Drops database `name`, then every role whose name ends with `suffix`.
async fn drop_database(name: &str, suffix: &str) -> anyhow::Result<()> {
    let server = connect("postgres").await?;
    let run = |statement: String| {
        let server = &server;
        async move {
            tokio::time::timeout(TIMEOUT, server.batch_execute(&statement))
                .await
                .with_context(|| format!("{statement} timed out"))?
                .with_context(|| statement.clone())
        }
    };
    run(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_identifier(name)
    ))
    .await?;
    // The suffix has only letters, digits and `_`; `_` is escaped for LIKE.
    let pattern = format!("%{}", suffix.replace('_', "\\_"));
    let roles = tokio::time::timeout(
        TIMEOUT,
        server.query(
            "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1",
            &[&pattern],
        ),
    )
    .await
    .context("listing the test's roles timed out")?
    .context("listing the test's roles")?;
    for role in roles {
        let role: String = role.try_get(0).context("reading a role name")?;
        run(format!("DROP ROLE IF EXISTS {}", quote_identifier(&role))).await?;
    }
    Ok(())
}

/// A superuser session in `database`.
async fn connect(database: &str) -> anyhow::Result<Client> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(HOST)
        .port(PORT)
        .user(SUPERUSER)
        .dbname(database)
        .application_name("system-tests")
        .connect_timeout(TIMEOUT);
    let (client, connection) = tokio::time::timeout(TIMEOUT, config.connect(NoTls))
        .await
        .context("connecting to PostgreSQL timed out")?
        .with_context(|| {
            format!(
                "cannot connect to PostgreSQL at {HOST}:{PORT} as {SUPERUSER}; is it running? \
                 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)"
            )
        })?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server ends the session.
        let _ = connection.await;
    });
    Ok(client)
}

/// `"name"`, with embedded quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with embedded quotes doubled.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
