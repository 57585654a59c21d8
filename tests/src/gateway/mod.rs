//! An Amazon Bedrock AgentCore Gateway stand-in: one MCP endpoint (`/mcp`, streamable HTTP,
//! stateless, JSON responses) in front of several MCP targets, on a free loopback port.
//!
//! The gateway does not run locally, so tests point the agent's gateway tool source at
//! [`GatewayStandIn::url`] as they would at
//! `https://<gatewayId>.gateway.bedrock-agentcore.<region>.amazonaws.com/mcp`. It behaves as the
//! AgentCore Gateway does:
//!
//! - Each target is a backing MCP server (normally the project's `mcp-server`, see
//!   [`crate::mcp_server`]). Its tools are listed as `<target>___<tool>` (three underscores) with
//!   description, input and output schemas and annotations unchanged, and `tools/call` on such a
//!   name is forwarded to that target under the original name; the target's result (an
//!   `isError` result included) comes back unchanged, and a JSON-RPC error from it is passed on.
//!   As in the gateway's default listing mode, the catalog is read from the targets once, when
//!   the stand-in starts, and `tools/list` answers from it.
//! - Filler targets ([`GatewayOptions::filler_target`]) add generated tools named
//!   `<target>___tool_<n>` with plain schemas and a fixed structured result, so a gateway can
//!   offer more tools than an agent is willing to load.
//! - With semantic search ([`GatewayOptions::semantic_search`]) the catalog starts with
//!   [`SEARCH_TOOL`], input `{"query": string}`. Its answer is the shape AWS shows: the matching
//!   tools, most relevant first, at most 10, as `{"tools": [<tool>, ...]}` both in
//!   `structuredContent` and as the JSON text of the first content block, each tool as listed
//!   (`name`, `description`, `inputSchema`, and `outputSchema` / `annotations` when it has them).
//!   Source: the AgentCore Gateway semantic-search tutorial,
//!   awslabs/amazon-bedrock-agentcore-samples,
//!   `01-tutorials/02-AgentCore-gateway/03-search-tools/01-gateway-search.ipynb`, which reads
//!   `result["structuredContent"]["tools"]` and `json.loads(content[0].text)["tools"]`, uses
//!   each hit's `name`, `description` and `inputSchema`, says results come in descending order
//!   of relevance, up to 10, and gives the tool's description and input schema reproduced here;
//!   the developer guide page "Search for tools in your AgentCore gateway with a natural language
//!   query" says only that "the response returns a list of tools that are relevant to the
//!   query". Stand-in simplification: relevance is not semantic. A tool scores 2 per query word
//!   (3 letters or more, case-insensitive) found among the words of its name and 1 per query
//!   word found in its description; tools scoring 0 are left out; ties keep list order.
//! - Inbound authorization is an [`Authorizer`] (see [`crate::agentcore_runtime`]): a refused
//!   request to `/mcp` gets `401` with
//!   `WWW-Authenticate: Bearer resource_metadata="<base>/.well-known/oauth-protected-resource"`
//!   (served too) or, for SigV4, `403`, and a JSON body naming the reason.
//!
//! - A JWT inbound authorizer ([`GatewayOptions::jwt`], CUSTOM_JWT) verifies the bearer token
//!   with an [`inbound_auth::Authenticator`] (RS256 against the issuer's JWKS, the issuer, the
//!   token use and the allowed audience, as the gateway's `allowedAudience` does for ID tokens);
//!   a missing or refused token gets the `401` above.
//! - With policies ([`GatewayOptions::policies`], ENFORCE mode) each `tools/call` of a target
//!   tool is decided by the [`PolicyEngine`] for the verified token's principal, with the
//!   arguments as `context.input`. An allowed call is forwarded; a denied one (an input that
//!   does not fit the schema included) never reaches the target and is answered, as AWS's page
//!   documents it (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/use-gateway-with-policy.html>,
//!   "Policy responses", as quoted by public write-ups: the section itself could not be read
//!   here), with a JSON-RPC success whose result is `isError: true` and one text block
//!   `AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy
//!   enforcement [<reason>]`, the reason [`crate::cedar_policy_engine::DENIED_BY_DEFAULT`] when
//!   no policy applied. Unverified: some observers report a live gateway answering a JSON-RPC
//!   error `-32002` with the same message instead. `tools/list` and the search tool's hits show
//!   only the tools the principal could be permitted to call under some input (the page's meta
//!   action, see [`PolicyEngine::could_permit`]); the search tool itself is always listed.
//!
//! Calls (by tool name), `tools/list` requests, the calls forwarded to a target and the policy
//! denials are recorded for assertions. Outbound authorization to targets is not modelled:
//! targets are called without credentials (a deployed gateway uses its credential provider).
//! The server stops when the stand-in is dropped.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use axum::Router;
use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::http;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, InitializeResult, JsonObject, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RunningService, ServiceError, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleClient, RoleServer, ServerHandler};
use serde_json::{Value, json};

use inbound_auth::{Authenticator, Caller};

use crate::agentcore_runtime::{
    AuthGate, Authorizer, Denial, allow_all, buffered_body, lock, protected_resource_metadata,
};
use crate::cedar_policy_engine::{OAuthUser, PolicyEngine, Verdict};
use crate::serving::Serving;

pub mod policy_stack;

/// The stand-in's own gateway ARN: the resource of every policy decision.
pub const GATEWAY_ARN: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/support-standin";

/// The text before the bracketed reason of a policy denial (see the module doc).
pub const POLICY_DENIAL_PREFIX: &str = "AuthorizeActionException - Tool Execution Denied: Tool call not allowed due to policy enforcement";

/// The gateway's built-in semantic search tool.
pub const SEARCH_TOOL: &str = "x_amz_bedrock_agentcore_search";

/// Between the target name and the tool name in a gateway tool name.
pub const SEPARATOR: &str = "___";

/// The search tool's description, as the AgentCore samples give it.
const SEARCH_TOOL_DESCRIPTION: &str = "A special tool that returns a trimmed down list of tools \
     given a context. Use this tool only when there are many tools available and you want to get \
     a subset that matches the provided context.";

/// The most tools one search returns.
const SEARCH_RESULTS: usize = 10;

/// How long a target may take to list its tools or answer a call.
const TARGET_TIMEOUT: Duration = Duration::from_secs(60);

/// What the gateway stand-in fronts and how it is protected.
#[derive(Clone)]
pub struct GatewayOptions {
    targets: Vec<(String, String)>,
    fillers: Vec<(String, usize)>,
    semantic_search: bool,
    authorizer: Authorizer,
    authorization_servers: Vec<String>,
    authenticator: Option<Authenticator>,
    policies: Option<Arc<PolicyEngine>>,
    bind: SocketAddr,
    extra_hosts: Vec<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            fillers: Vec::new(),
            semantic_search: false,
            authorizer: allow_all(),
            authorization_servers: Vec::new(),
            authenticator: None,
            policies: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            extra_hosts: Vec::new(),
        }
    }
}

/// What the JWT authorizer concluded about a request, handed from the (async) verification to
/// the (sync) [`Authorizer`] and on to the MCP handler in the request's extensions.
#[derive(Clone)]
enum JwtOutcome {
    Verified(OAuthUser),
    Refused(String),
}

impl GatewayOptions {
    /// No targets, no search, no inbound authorization.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds target `name` backed by the MCP server at `mcp_url`.
    pub fn target(mut self, name: impl Into<String>, mcp_url: impl Into<String>) -> Self {
        self.targets.push((name.into(), mcp_url.into()));
        self
    }

    /// Adds target `name` with `tools` generated tools `<name>___tool_1` .. `<name>___tool_<tools>`.
    pub fn filler_target(mut self, name: impl Into<String>, tools: usize) -> Self {
        self.fillers.push((name.into(), tools));
        self
    }

    /// Turns on semantic search ([`SEARCH_TOOL`]).
    pub fn semantic_search(mut self) -> Self {
        self.semantic_search = true;
        self
    }

    /// Protects `/mcp` with `authorizer`.
    pub fn authorizer(mut self, authorizer: Authorizer) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// Sets `authorization_servers` of the protected-resource metadata (an OAuth issuer for a
    /// JWT authorizer).
    pub fn authorization_servers(mut self, servers: impl IntoIterator<Item = String>) -> Self {
        self.authorization_servers = servers.into_iter().collect();
        self
    }

    /// Protects `/mcp` with a JWT authorizer (CUSTOM_JWT): every request needs a bearer token
    /// `authenticator` accepts (build it in `verify` mode for real signature checks). Replaces
    /// [`GatewayOptions::authorizer`].
    pub fn jwt(mut self, authenticator: Authenticator) -> Self {
        self.authenticator = Some(authenticator);
        self.authorizer = Arc::new(|request| match request.extensions().get::<JwtOutcome>() {
            Some(JwtOutcome::Verified(_)) => Ok(()),
            Some(JwtOutcome::Refused(reason)) => Err(Denial::unauthorized(reason.clone())),
            None => Err(Denial::unauthorized("the request was not authenticated")),
        });
        self
    }

    /// Enforces `engine`'s policies on tool calls and listings (needs [`GatewayOptions::jwt`]:
    /// the principal comes from the token).
    pub fn policies(mut self, engine: PolicyEngine) -> Self {
        self.policies = Some(Arc::new(engine));
        self
    }

    /// [`GatewayOptions::policies`] loaded from `dir` (a `policies/` directory) for
    /// [`GATEWAY_ARN`].
    pub fn policies_from(self, dir: &Path) -> anyhow::Result<Self> {
        Ok(self.policies(PolicyEngine::load(dir, GATEWAY_ARN)?))
    }

    /// Listens on `address` instead of a free loopback port.
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.bind = address;
        self
    }

    /// Also accepts requests whose `Host` is `host` (a name, or `name:port`), besides the
    /// loopback address it listens on: a container's service name, for example.
    pub fn allowed_host(mut self, host: impl Into<String>) -> Self {
        self.extra_hosts.push(host.into());
        self
    }
}

/// A tool call the policies denied; it never reached a target.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDenial {
    /// The gateway tool name.
    pub tool: String,
    /// The caller's `sub`.
    pub principal: String,
    /// The arguments as sent.
    pub arguments: Value,
    /// The bracketed reason of the answer.
    pub reason: String,
}

/// A tool call passed on to a target.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardedCall {
    /// The gateway tool name.
    pub tool: String,
    /// The arguments as forwarded.
    pub arguments: Value,
}

/// A running gateway stand-in; stops when dropped.
pub struct GatewayStandIn {
    /// `http://127.0.0.1:<port>/mcp`.
    pub url: String,
    shared: Arc<Shared>,
    /// Dropping it stops the server.
    _serving: Serving,
}

struct Shared {
    catalog: Vec<Entry>,
    targets: Vec<Target>,
    gate: AuthGate,
    /// `<base>/.well-known/oauth-protected-resource`.
    metadata_url: String,
    url: String,
    authorization_servers: Vec<String>,
    authenticator: Option<Authenticator>,
    policies: Option<Arc<PolicyEngine>>,
    calls: Mutex<Vec<String>>,
    forwarded: Mutex<Vec<ForwardedCall>>,
    denials: Mutex<Vec<PolicyDenial>>,
    list_requests: AtomicUsize,
}

struct Target {
    name: String,
    client: RunningService<RoleClient, ()>,
}

/// One tool of the catalog, as listed, and where a call to it goes.
struct Entry {
    tool: Tool,
    route: Route,
}

enum Route {
    Search,
    Filler {
        target: String,
        tool: String,
    },
    /// Index into `Shared::targets`, and the tool's name at the target.
    Target {
        index: usize,
        tool: String,
    },
}

impl GatewayStandIn {
    /// Connects to every target, reads its tools, and starts serving on a free loopback port.
    pub async fn start(options: GatewayOptions) -> anyhow::Result<Self> {
        ensure!(
            options.policies.is_none() || options.authenticator.is_some(),
            "gateway policies need the JWT authorizer (GatewayOptions::jwt): the principal comes \
             from the verified token"
        );
        let mut catalog = Vec::new();
        if options.semantic_search {
            catalog.push(Entry {
                tool: search_tool(),
                route: Route::Search,
            });
        }
        let mut targets = Vec::new();
        for (index, (name, mcp_url)) in options.targets.into_iter().enumerate() {
            check_target_name(&name)?;
            let client = ()
                .serve(StreamableHttpClientTransport::from_uri(mcp_url.clone()))
                .await
                .with_context(|| format!("connecting to target {name} at {mcp_url}"))?;
            let tools = tokio::time::timeout(TARGET_TIMEOUT, client.list_all_tools())
                .await
                .with_context(|| format!("target {name} did not list its tools in time"))?
                .with_context(|| format!("listing the tools of target {name}"))?;
            for mut tool in tools {
                let original = tool.name.to_string();
                tool.name = format!("{name}{SEPARATOR}{original}").into();
                catalog.push(Entry {
                    tool,
                    route: Route::Target {
                        index,
                        tool: original,
                    },
                });
            }
            targets.push(Target { name, client });
        }
        for (name, count) in options.fillers {
            check_target_name(&name)?;
            catalog.extend((1..=count).map(|n| filler_tool(&name, n)));
        }

        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .with_context(|| format!("binding {} for the gateway stand-in", options.bind))?;
        let mut address = listener.local_addr()?;
        if address.ip().is_unspecified() {
            // Listening on every interface: name it by loopback, which clients here use.
            address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let base = format!("http://{address}");
        let shared = Arc::new(Shared {
            catalog,
            targets,
            gate: AuthGate::new(options.authorizer),
            metadata_url: format!("{base}/.well-known/oauth-protected-resource"),
            url: format!("{base}/mcp"),
            authorization_servers: options.authorization_servers,
            authenticator: options.authenticator,
            policies: options.policies,
            calls: Mutex::new(Vec::new()),
            forwarded: Mutex::new(Vec::new()),
            denials: Mutex::new(Vec::new()),
            list_requests: AtomicUsize::new(0),
        });
        let handler = Gateway(Arc::clone(&shared));
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_allowed_hosts(
                [address.to_string(), format!("localhost:{}", address.port())]
                    .into_iter()
                    .chain(options.extra_hosts.iter().cloned()),
            );
        let mcp = StreamableHttpService::new(
            move || Ok(handler.clone()),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let app = Router::new()
            .nest_service("/mcp", mcp)
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                authorize,
            ))
            .route("/.well-known/oauth-protected-resource", get(metadata))
            .with_state(Arc::clone(&shared));
        Ok(Self {
            url: shared.url.clone(),
            shared,
            _serving: Serving::start("Gateway stand-in", listener, app),
        })
    }

    /// The gateway names of the tools called so far, in arrival order (unknown names included).
    pub fn calls(&self) -> Vec<String> {
        lock(&self.shared.calls).clone()
    }

    /// The calls passed on to a target, in order.
    pub fn forwarded(&self) -> Vec<ForwardedCall> {
        lock(&self.shared.forwarded).clone()
    }

    /// The calls the policies denied, in order.
    pub fn denials(&self) -> Vec<PolicyDenial> {
        lock(&self.shared.denials).clone()
    }

    /// The address it listens on.
    pub fn address(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
    }

    /// How many `tools/list` requests were answered.
    pub fn list_requests(&self) -> usize {
        self.shared.list_requests.load(Ordering::SeqCst)
    }

    /// How many requests were refused with `401`.
    pub fn unauthorized(&self) -> usize {
        self.shared.gate.unauthorized()
    }

    /// How many requests were refused with `403` (SigV4).
    pub fn forbidden(&self) -> usize {
        self.shared.gate.forbidden()
    }
}

/// Gateway target names cannot contain the separator, or calls could not be routed back.
fn check_target_name(name: &str) -> anyhow::Result<()> {
    ensure!(
        !name.is_empty() && !name.contains(SEPARATOR),
        "gateway target name {name:?} must be non-empty and must not contain {SEPARATOR:?}"
    );
    Ok(())
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        other => unreachable!("schemas here are literal objects, not {other}"),
    }
}

fn search_tool() -> Tool {
    Tool::new(
        SEARCH_TOOL,
        SEARCH_TOOL_DESCRIPTION,
        object(json!({
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "search query to use for finding tools",
                },
            },
            "required": ["query"],
        })),
    )
}

fn filler_tool(target: &str, n: usize) -> Entry {
    let tool = format!("tool_{n}");
    let description = format!(
        "Generated filler tool {n} of the {target} target: returns a fixed record with status \
         ok. It exists to make the gateway's tool list long."
    );
    let input = object(json!({
        "type": "object",
        "properties": { "note": { "type": "string", "description": "Ignored." } },
    }));
    let output = object(json!({
        "type": "object",
        "properties": {
            "target": { "type": "string" },
            "tool": { "type": "string" },
            "status": { "type": "string" },
        },
        "required": ["target", "tool", "status"],
    }));
    Entry {
        tool: Tool::new(format!("{target}{SEPARATOR}{tool}"), description, input)
            .with_raw_output_schema(output)
            .with_annotations(
                ToolAnnotations::new()
                    .read_only(true)
                    .destructive(false)
                    .idempotent(true)
                    .open_world(false),
            ),
        route: Route::Filler {
            target: target.to_owned(),
            tool,
        },
    }
}

/// Runs the authorizer on every request to `/mcp`, with the body buffered so a SigV4 authorizer
/// can hash it.
async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let body = match buffered_body(body).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    // The authorizer must see the path the client sent (and signed), not the one nesting left.
    let sent_uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
    let routed_uri = std::mem::replace(&mut parts.uri, sent_uri);
    if let Some(authenticator) = &shared.authenticator {
        // The refusal reason names the check that failed, never the token.
        let outcome = match authenticator.authenticate(&parts.headers).await {
            Ok(Caller::Authenticated(principal)) => match OAuthUser::from_claims(&principal.claims)
            {
                Ok(user) => JwtOutcome::Verified(user),
                Err(error) => JwtOutcome::Refused(error.to_string()),
            },
            Ok(Caller::Anonymous) => {
                JwtOutcome::Refused("the authenticator admits anonymous callers".into())
            }
            Err(error) => JwtOutcome::Refused(error.to_string()),
        };
        parts.extensions.insert(outcome);
    }
    let request = http::Request::from_parts(parts, body);
    if let Err(refusal) = shared.gate.admit(&request, &shared.metadata_url) {
        return refusal.into_response();
    }
    let (mut parts, body) = request.into_parts();
    parts.uri = routed_uri;
    next.run(Request::from_parts(parts, Body::from(body))).await
}

async fn metadata(State(shared): State<Arc<Shared>>) -> Response {
    protected_resource_metadata(&shared.url, &shared.authorization_servers)
}

/// The MCP side of the gateway.
#[derive(Clone)]
struct Gateway(Arc<Shared>);

impl ServerHandler for Gateway {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "agentcore-gateway-standin",
                env!("CARGO_PKG_VERSION"),
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.0.list_requests.fetch_add(1, Ordering::SeqCst);
        let user = caller(&context);
        Ok(ListToolsResult::with_all_items(
            self.0
                .catalog
                .iter()
                .filter(|entry| self.listable(entry, user.as_ref()))
                .map(|entry| entry.tool.clone())
                .collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        lock(&self.0.calls).push(request.name.to_string());
        let Some(entry) = self
            .0
            .catalog
            .iter()
            .find(|entry| entry.tool.name == request.name)
        else {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {}", request.name),
                None,
            ));
        };
        let user = caller(&context);
        if !matches!(entry.route, Route::Search)
            && let Some(denied) = self.enforce(&request, user.as_ref())
        {
            return Ok(denied.into());
        }
        match &entry.route {
            Route::Search => self.search(request.arguments.as_ref(), user.as_ref()),
            Route::Filler { target, tool } => Ok(CallToolResult::structured(
                json!({ "target": target, "tool": tool, "status": "ok" }),
            )
            .into()),
            Route::Target { index, tool } => {
                let target = &self.0.targets[*index];
                let mut params = CallToolRequestParams::new(tool.clone());
                lock(&self.0.forwarded).push(ForwardedCall {
                    tool: request.name.to_string(),
                    arguments: request.arguments.clone().map_or(Value::Null, Value::Object),
                });
                if let Some(arguments) = request.arguments {
                    params = params.with_arguments(arguments);
                }
                match tokio::time::timeout(TARGET_TIMEOUT, target.client.call_tool(params)).await {
                    Ok(Ok(result)) => Ok(result.into()),
                    Ok(Err(ServiceError::McpError(error))) => Err(error),
                    Ok(Err(error)) => Err(ErrorData::internal_error(
                        format!("target {} failed on {tool}: {error}", target.name),
                        None,
                    )),
                    Err(_) => Err(ErrorData::internal_error(
                        format!(
                            "target {} did not answer {tool} within {TARGET_TIMEOUT:?}",
                            target.name
                        ),
                        None,
                    )),
                }
            }
        }
    }
}

/// The verified caller of an MCP request, when the JWT authorizer is on.
fn caller(context: &RequestContext<RoleServer>) -> Option<OAuthUser> {
    match context
        .extensions
        .get::<Parts>()?
        .extensions
        .get::<JwtOutcome>()?
    {
        JwtOutcome::Verified(user) => Some(user.clone()),
        JwtOutcome::Refused(_) => None,
    }
}

impl Gateway {
    /// Whether `entry` is listed (or found by search) for `user`: always without policies;
    /// with them, the search tool always and a tool only if the policies could permit calling
    /// it.
    fn listable(&self, entry: &Entry, user: Option<&OAuthUser>) -> bool {
        match (&self.0.policies, &entry.route) {
            (None, _) | (Some(_), Route::Search) => true,
            (Some(engine), _) => {
                user.is_some_and(|user| engine.could_permit(user, &entry.tool.name))
            }
        }
    }

    /// The policy decision on a call (none without policies): `None` to go on, or the denial
    /// to answer with, recorded.
    fn enforce(
        &self,
        request: &CallToolRequestParams,
        user: Option<&OAuthUser>,
    ) -> Option<CallToolResult> {
        let engine = self.0.policies.as_ref()?;
        let arguments = request
            .arguments
            .clone()
            .map_or_else(|| Value::Object(JsonObject::new()), Value::Object);
        let verdict = match user {
            Some(user) => engine.authorize(user, &request.name, &arguments),
            None => Verdict::Deny {
                reason: "the request carries no verified principal".into(),
            },
        };
        let Verdict::Deny { reason } = verdict else {
            return None;
        };
        tracing::info!(tool = %request.name, %reason, "gateway stand-in: tool call denied by policy");
        lock(&self.0.denials).push(PolicyDenial {
            tool: request.name.to_string(),
            principal: user.map(|user| user.sub.clone()).unwrap_or_default(),
            arguments,
            reason: reason.clone(),
        });
        Some(CallToolResult::error(vec![ContentBlock::text(format!(
            "{POLICY_DENIAL_PREFIX} [{reason}]"
        ))]))
    }

    /// [`SEARCH_TOOL`]: the best-matching tools the caller may see, as `{"tools": [...]}`.
    fn search(
        &self,
        arguments: Option<&JsonObject>,
        user: Option<&OAuthUser>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(query) = arguments
            .and_then(|arguments| arguments.get("query"))
            .and_then(Value::as_str)
        else {
            return Err(ErrorData::invalid_params(
                format!("{SEARCH_TOOL} needs a string argument \"query\""),
                None,
            ));
        };
        let visible: Vec<&Entry> = self
            .0
            .catalog
            .iter()
            .filter(|entry| self.listable(entry, user))
            .collect();
        let tools = rank(&visible, query)
            .into_iter()
            .map(|tool| serde_json::to_value(tool).unwrap_or_else(|error| json!(error.to_string())))
            .collect::<Vec<_>>();
        Ok(CallToolResult::structured(json!({ "tools": tools })).into())
    }
}

/// The catalog's tools (the search tool excepted) that share words with `query`, best first.
fn rank<'a>(catalog: &[&'a Entry], query: &str) -> Vec<&'a Tool> {
    let terms: HashSet<String> = words(query).collect();
    let mut scored: Vec<(usize, &Tool)> = catalog
        .iter()
        .filter(|entry| !matches!(entry.route, Route::Search))
        .filter_map(|entry| {
            let name: HashSet<String> = words(&entry.tool.name).collect();
            let description: HashSet<String> =
                words(entry.tool.description.as_deref().unwrap_or_default()).collect();
            let score =
                2 * terms.intersection(&name).count() + terms.intersection(&description).count();
            (score > 0).then_some((score, &entry.tool))
        })
        .collect();
    // Stable, so equal scores keep list order.
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    scored
        .into_iter()
        .take(SEARCH_RESULTS)
        .map(|(_, tool)| tool)
        .collect()
}

/// Lower-case words of three letters or more; `_` separates words, so tool names split too.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() >= 3)
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn words_split_tool_names_and_drop_short_words() {
        let got: Vec<String> = words("support___check_warranty: Is my Warranty OK?").collect();
        assert_eq!(got, ["support", "check", "warranty", "warranty"]);
    }
}
