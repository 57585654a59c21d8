//! The gateway as deployed for people, for the tests that prove its policies: the real MCP
//! server on moto as target `support`, behind the gateway stand-in with its JWT authorizer on a
//! moto Cognito pool (RS256 ID tokens verified against the pool's JWKS, `aud` = the allowed app
//! client, as the deployed gateway's CUSTOM_JWT `allowedAudience` does) and the project's
//! `policies/` enforced.
//!
//! Besides the pool's own users ([`crate::cognito`]: the customer linked to
//! [`crate::cognito::CUSTOMER_ID`], and a member of the harness group
//! [`crate::cognito::STAFF_GROUP`]), it signs up a member of [`GATEWAY_STAFF_GROUP`], the group
//! the staff policy names, and a user linked to no customer.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context as _;
use inbound_auth::{AuthConfig, Authenticator, ClaimRules, JwksConfig, TokenUsePolicy};
use rmcp::RoleClient;
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use super::{GatewayOptions, GatewayStandIn};
use crate::cognito::CognitoPool;
use crate::mcp_server::McpServer;
use crate::moto::Moto;
use crate::workspace;

/// The group `policies/staff-all-tools.cedar` admits (the one `deploy/identity.yaml` creates).
pub const GATEWAY_STAFF_GROUP: &str = "support-staff";
/// A member of [`GATEWAY_STAFF_GROUP`], linked to no customer.
pub const GATEWAY_STAFF_USERNAME: &str = "support-staff-001";
/// A signed-in user linked to no customer and in no group.
pub const UNLINKED_USERNAME: &str = "unlinked-001";
/// The gateway's target name, as deployed.
pub const TARGET: &str = "support";

/// The authenticator of a gateway whose JWT authorizer trusts `pool`: ID tokens of the pool's
/// allowed client, signatures checked against the pool's JWKS.
pub fn id_token_authenticator(pool: &CognitoPool) -> anyhow::Result<Authenticator> {
    Authenticator::new(AuthConfig::Verify {
        rules: ClaimRules {
            issuer: pool.issuer.clone(),
            allowed_client_ids: BTreeSet::from([pool.client_id.clone()]),
            token_use: TokenUsePolicy::Id,
            leeway: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(86_400),
        },
        jwks: JwksConfig {
            url: pool.jwks_url.clone(),
            refresh_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        },
    })
    .context("building the gateway's JWT authenticator")
}

/// moto, the seeded MCP server, the pool with its users, and the gateway in front.
pub struct PolicyGatewayStack {
    pub moto: Moto,
    pub mcp: McpServer,
    pub pool: CognitoPool,
    pub gateway: GatewayStandIn,
}

impl PolicyGatewayStack {
    /// Starts everything, the policies loaded from the workspace's `policies/`.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(GatewayOptions::new()).await
    }

    /// [`PolicyGatewayStack::start`] with the gateway's other settings taken from `options`
    /// (semantic search, say).
    pub async fn start_with(options: GatewayOptions) -> anyhow::Result<Self> {
        let moto = Moto::start().await?;
        let mcp = McpServer::seeded(&moto).await?;
        let pool = CognitoPool::create(&moto).await?;
        pool.client()
            .create_group()
            .user_pool_id(&pool.pool_id)
            .group_name(GATEWAY_STAFF_GROUP)
            .send()
            .await
            .context("CreateGroup support-staff")?;
        pool.create_user(
            GATEWAY_STAFF_USERNAME,
            &[("email", "support-staff-001@example.com")],
            &[GATEWAY_STAFF_GROUP],
        )
        .await?;
        pool.create_user(
            UNLINKED_USERNAME,
            &[("email", "unlinked-001@example.com")],
            &[],
        )
        .await?;
        let gateway = GatewayStandIn::start(
            options
                .target(TARGET, mcp.url.clone())
                .jwt(id_token_authenticator(&pool)?)
                .authorization_servers([pool.issuer.clone()])
                .policies_from(&workspace::root().join("policies"))?,
        )
        .await?;
        Ok(Self {
            moto,
            mcp,
            pool,
            gateway,
        })
    }

    /// A user's ID token from the allowed client.
    pub async fn id_token(&self, username: &str) -> anyhow::Result<String> {
        Ok(self
            .pool
            .sign_in(username, &self.pool.client_id)
            .await?
            .id_token)
    }

    /// An MCP client on the gateway sending `Authorization: Bearer <token>`.
    pub async fn client(&self, token: &str) -> anyhow::Result<RunningService<RoleClient, ()>> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.gateway.url.clone())
            .auth_header(token);
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .context("connecting an MCP client to the gateway")
    }
}
