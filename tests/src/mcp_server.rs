//! The DynamoDB MCP server under test: seeding its tables in moto, starting it, and
//! connecting an MCP client to it.

use anyhow::{Context, bail};
use rmcp::RoleClient;
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;

use crate::moto::Moto;
use crate::process::ServerProcess;
use crate::workspace;

/// A running `mcp-server` and its URL.
pub struct McpServer {
    pub process: ServerProcess,
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
}

/// The server's environment against `moto`: DynamoDB through the service-specific endpoint
/// variable, a free port on loopback.
pub fn env(moto: &Moto) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = moto
        .sdk_env()
        .into_iter()
        .filter(|(k, _)| k != "AWS_ENDPOINT_URL")
        .collect();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.endpoint.clone()));
    env.push(("MCP_HOST".into(), "127.0.0.1".into()));
    env.push(("MCP_PORT".into(), "0".into()));
    env
}

/// Runs `mcp-server seed` against `moto` and returns its output lines.
pub async fn seed(moto: &Moto) -> anyhow::Result<Vec<String>> {
    let output = tokio::process::Command::new(workspace::binary("mcp-server"))
        .arg("seed")
        .env_clear()
        .envs(env(moto))
        .output()
        .await
        .context("running mcp-server seed")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "mcp-server seed failed with {}:\n{text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(text.lines().map(str::to_owned).collect())
}

impl McpServer {
    /// Starts the server against `moto` with `extra_env` added to (or overriding) [`env()`].
    pub async fn start(moto: &Moto, extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut env = env(moto);
        for (key, value) in extra_env {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let process = ServerProcess::spawn(&workspace::binary("mcp-server"), &[], &env).await?;
        let url = format!("http://{}/mcp", process.address);
        Ok(Self { process, url })
    }

    /// Seeds a fresh moto and starts the server on it.
    pub async fn seeded(moto: &Moto) -> anyhow::Result<Self> {
        seed(moto).await?;
        Self::start(moto, &[]).await
    }

    /// An MCP client (rmcp, streamable HTTP) connected to this server.
    pub async fn client(&self) -> anyhow::Result<RunningService<RoleClient, ()>> {
        ().serve(StreamableHttpClientTransport::from_uri(self.url.clone()))
            .await
            .context("connecting an MCP client")
    }
}

/// Calls a tool and returns its result; a JSON-RPC error fails the test.
pub async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: serde_json::Value,
) -> rmcp::model::CallToolResult {
    let arguments = match arguments {
        serde_json::Value::Object(map) => map,
        other => panic!("tool arguments must be an object, got {other}"),
    };
    client
        .call_tool(
            rmcp::model::CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
}

/// The `structuredContent` of a successful result.
pub fn structured(result: &rmcp::model::CallToolResult) -> serde_json::Value {
    assert_ne!(
        result.is_error,
        Some(true),
        "expected success, got an error result: {result:?}"
    );
    result
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("result has no structuredContent: {result:?}"))
}

/// The text of an `isError` result (which must carry no `structuredContent`).
pub fn error_text(result: &rmcp::model::CallToolResult) -> String {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected an error result, got: {result:?}"
    );
    assert!(
        result.structured_content.is_none(),
        "an error result must not carry structuredContent"
    );
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// moto with the demo data and an MCP server on it: where most MCP tests start.
pub async fn seeded_stack() -> anyhow::Result<(Moto, McpServer)> {
    let moto = Moto::start().await?;
    let server = McpServer::seeded(&moto).await?;
    Ok((moto, server))
}

/// How many tickets the tickets table holds (a DynamoDB count scan).
pub async fn ticket_count(moto: &Moto) -> anyhow::Result<usize> {
    let scan = moto
        .dynamodb()
        .await
        .scan()
        .table_name("support-tickets")
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .context("counting tickets")?;
    Ok(usize::try_from(scan.count)?)
}
