//! Whole systems several test files start the same way: the agent with its MCP server reached
//! as a deployment reaches it (behind the AgentCore runtime invocation path with OAuth client
//! credentials, or behind a gateway with AgentCore Identity tokens), and the agent behind
//! Cognito ID tokens with the Aurora tools and the MCP server, as isolation tests need it.
//!
//! Each stack owns everything it started; dropping it stops the processes and stand-ins.

use std::time::Duration;

use serde_json::json;

use crate::agent::Agent;
use crate::agentcore_runtime::{AgentCoreRuntimeStandIn, RuntimeOptions};
use crate::aurora::Aurora;
use crate::bedrock::BedrockStandIn;
use crate::cognito::{CognitoPool, STAFF_GROUP};
use crate::gateway::{GatewayOptions, GatewayStandIn};
use crate::identity::IdentityStandIn;
use crate::mcp_server::McpServer;
use crate::moto::Moto;
use crate::oauth::OAuthStandIn;
use crate::rds_data;

/// The agent's machine client at the OAuth stand-in.
pub const CLIENT_ID: &str = "support-agent-m2m";
pub const CLIENT_SECRET: &str = "m2m-Secret-42";
pub const SCOPE: &str = "support-mcp/tools";
/// The workload access token the Identity stand-in accepts.
pub const WORKLOAD_TOKEN: &str = "workload-token-for-tests";
/// The AgentCore Identity credential provider the gateway source names.
pub const GATEWAY_PROVIDER: &str = "gateway-m2m";

/// How long to wait for the agent to list its tool sources.
const LISTED_WITHIN: Duration = Duration::from_secs(15);

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The MCP server behind the runtime stand-in, reached by ARN with OAuth client credentials
/// whose secret is in moto's Secrets Manager.
pub struct RuntimeSourceStack {
    pub moto: Moto,
    pub mcp: McpServer,
    pub oauth: OAuthStandIn,
    pub runtime: AgentCoreRuntimeStandIn,
    pub bedrock: BedrockStandIn,
    pub agent: Agent,
}

impl RuntimeSourceStack {
    /// Starts it with tokens that live `token_lifetime`, once the agent has listed the tools.
    pub async fn start(token_lifetime: Duration) -> anyhow::Result<Self> {
        let moto = Moto::start().await?;
        let mcp = McpServer::seeded(&moto).await?;
        let oauth = OAuthStandIn::start().await;
        oauth.register_client(CLIENT_ID, CLIENT_SECRET, &[SCOPE]);
        oauth.set_token_lifetime(token_lifetime);
        let secret_arn = rds_data::secrets_manager_client(&moto.endpoint)
            .await
            .create_secret()
            .name("support-mcp-client-secret")
            .secret_string(CLIENT_SECRET)
            .send()
            .await?
            .arn()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("CreateSecret returned no ARN"))?;
        let runtime = AgentCoreRuntimeStandIn::start(
            mcp.url.clone(),
            RuntimeOptions {
                authorizer: oauth.authorizer(),
                ..RuntimeOptions::default()
            },
        )
        .await;
        let sources = json!([{
            "name": "support",
            "runtime_arn": runtime.runtime_arn,
            "auth": {
                "type": "client_credentials",
                "token_url": oauth.token_url(),
                "client_id": CLIENT_ID,
                "client_secret_arn": secret_arn,
                "scopes": [SCOPE]
            }
        }])
        .to_string();
        let bedrock = BedrockStandIn::start([]).await;
        let env = [
            ("MCP_SOURCES", sources.as_str()),
            (
                "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
                runtime.endpoint.as_str(),
            ),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.as_str()),
        ];
        let agent = Agent::start(&bedrock, None, &env).await?;
        agent.wait_for_log("tools listed", LISTED_WITHIN).await?;
        Ok(Self {
            moto,
            mcp,
            oauth,
            runtime,
            bedrock,
            agent,
        })
    }
}

/// The MCP server behind the gateway stand-in, whose tokens come from AgentCore Identity with
/// each request's workload access token (source `gateway`), and, unless started
/// [`IdentityGatewayStack::gateway_only`], the same server reached directly without auth
/// (source `direct`). The direct source keeps tools in every turn, so a withheld gateway is
/// seen to be withheld rather than the whole catalogue missing.
pub struct IdentityGatewayStack {
    pub moto: Moto,
    pub mcp: McpServer,
    pub oauth: OAuthStandIn,
    pub identity: IdentityStandIn,
    pub gateway: GatewayStandIn,
    pub bedrock: BedrockStandIn,
    pub agent: Agent,
}

impl IdentityGatewayStack {
    /// Starts it with OAuth tokens that live `token_lifetime`, once the direct source is listed.
    pub async fn start(token_lifetime: Duration) -> anyhow::Result<Self> {
        Self::start_with(token_lifetime, true).await
    }

    /// Like [`IdentityGatewayStack::start`] without the direct source: the gateway is the only
    /// one, and it is listed by the first request that brings a workload access token.
    pub async fn gateway_only(token_lifetime: Duration) -> anyhow::Result<Self> {
        Self::start_with(token_lifetime, false).await
    }

    async fn start_with(token_lifetime: Duration, direct: bool) -> anyhow::Result<Self> {
        let moto = Moto::start().await?;
        let mcp = McpServer::seeded(&moto).await?;
        let oauth = OAuthStandIn::start().await;
        oauth.register_client(CLIENT_ID, CLIENT_SECRET, &[SCOPE]);
        oauth.set_token_lifetime(token_lifetime);
        let identity = IdentityStandIn::start().await;
        identity.allow_workload_token(WORKLOAD_TOKEN);
        identity.add_provider(GATEWAY_PROVIDER, &oauth, CLIENT_ID);
        let gateway = GatewayStandIn::start(
            GatewayOptions::new()
                .target("support", mcp.url.clone())
                .authorizer(oauth.authorizer()),
        )
        .await?;
        let mut sources = vec![json!({
            "name": "gateway",
            "gateway_url": gateway.url,
            "auth": {"type": "agentcore_identity", "provider_name": GATEWAY_PROVIDER, "scopes": [SCOPE]}
        })];
        if direct {
            sources.push(json!({"name": "direct", "url": mcp.url}));
        }
        let bedrock = BedrockStandIn::start([]).await;
        let mut env = identity.sdk_env();
        env.push(("MCP_SOURCES".into(), json!(sources).to_string()));
        let agent = Agent::start(&bedrock, None, &env_refs(&env)).await?;
        if direct {
            agent.wait_for_log("tools listed", LISTED_WITHIN).await?;
        }
        Ok(Self {
            moto,
            mcp,
            oauth,
            identity,
            gateway,
            bedrock,
            agent,
        })
    }
}

/// The agent as deployed for people: Cognito ID tokens verified (`AUTH_TOKEN_USE=id`, staff in
/// [`STAFF_GROUP`]), the Aurora tools over the Data API stand-in on PostgreSQL, and the MCP
/// server on moto, both listed.
pub struct SignedInStack {
    pub moto: Moto,
    pub mcp: McpServer,
    pub aurora: Aurora,
    pub pool: CognitoPool,
    pub bedrock: BedrockStandIn,
    pub agent: Agent,
}

impl SignedInStack {
    pub async fn start() -> anyhow::Result<Self> {
        let moto = Moto::start().await?;
        let mcp = McpServer::seeded(&moto).await?;
        let aurora = Aurora::seeded(&moto).await?;
        let pool = CognitoPool::create(&moto).await?;
        let bedrock = BedrockStandIn::start([]).await;
        let mut env = pool.auth_env();
        env.extend(aurora.agent_env());
        env.push(("AUTH_TOKEN_USE".into(), "id".into()));
        env.push(("STAFF_GROUP".into(), STAFF_GROUP.into()));
        let agent = Agent::start(&bedrock, Some(&mcp.url), &env_refs(&env)).await?;
        agent
            .wait_for_logs("tools listed", 2, Duration::from_secs(10))
            .await?;
        Ok(Self {
            moto,
            mcp,
            aurora,
            pool,
            bedrock,
            agent,
        })
    }
}
