//! The gateway stand-in enforcing the project's Cedar policies (`policies/`) the way AgentCore
//! Gateway in ENFORCE mode does, with real RS256 ID tokens from moto's Cognito verified against
//! the pool's JWKS and the real MCP server on moto behind it: a customer's own records are
//! served; another customer's id, or none, is denied in AgentCore's shape before the MCP server
//! sees anything (the ticket count does not move); staff reach everyone; a caller linked to no
//! customer lists and calls only the product tools; `tools/list` and search are filtered per
//! principal; no token, a token for another audience or an access token get `401`. The last
//! test runs the standalone `gateway-standin` binary the same way.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use rmcp::RoleClient;
use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use system_tests::cedar_policy_engine::DENIED_BY_DEFAULT;
use system_tests::cognito::{CUSTOMER_ID, CUSTOMER_USERNAME, STAFF_USERNAME};
use system_tests::gateway::policy_stack::{
    GATEWAY_STAFF_USERNAME, PolicyGatewayStack, UNLINKED_USERNAME,
};
use system_tests::gateway::{GatewayOptions, POLICY_DENIAL_PREFIX, SEARCH_TOOL};
use system_tests::mcp_server::{call, error_text, structured, ticket_count};
use system_tests::process::ServerProcess;
use system_tests::workspace;

const OTHER: &str = "CUST-002";
const OWN_TICKET: &str = "TKT-0010";
const OTHER_TICKET: &str = "TKT-0005";
const OWN_SERIAL: &str = "SN-AUD-AS5BATSL";

const PRODUCT_TOOLS: [&str; 3] = [
    "support___get_review",
    "support___list_product_reviews",
    "support___get_product_rating_summary",
];

/// AgentCore's answer to a call no policy permits.
fn denied_by_default() -> String {
    format!("{POLICY_DENIAL_PREFIX} [{DENIED_BY_DEFAULT}]")
}

/// Arguments for a new ticket of `customer`.
fn new_ticket(customer: &str, token: &str) -> Value {
    json!({
        "customer_id": customer,
        "subject": "Headphones crackle",
        "description": "The left side crackles at high volume.",
        "category": "other",
        "client_token": token,
    })
}

/// The names `tools/list` gives this client.
async fn listed(client: &RunningService<RoleClient, ()>) -> BTreeSet<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.to_string())
        .collect()
}

/// The names of the tools the gateway's schema knows (every tool of the target).
fn all_tools() -> BTreeSet<String> {
    [
        "get_review",
        "list_product_reviews",
        "get_product_rating_summary",
        "list_customer_reviews",
        "check_warranty",
        "list_customer_warranties",
        "create_support_ticket",
        "get_support_ticket",
        "list_customer_tickets",
        "add_ticket_note",
    ]
    .into_iter()
    .map(|tool| format!("support___{tool}"))
    .collect()
}

fn is_policy_denial(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
        && result
            .content
            .iter()
            .filter_map(|block| block.as_text())
            .any(|text| text.text.starts_with(POLICY_DENIAL_PREFIX))
}

#[tokio::test]
async fn a_customer_is_served_their_own_records_through_the_gateway() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let client = stack
        .client(&stack.id_token(CUSTOMER_USERNAME).await.unwrap())
        .await
        .unwrap();

    let tickets = structured(
        &call(
            &client,
            "support___list_customer_tickets",
            json!({"customer_id": CUSTOMER_ID}),
        )
        .await,
    );
    let owners: BTreeSet<&str> = tickets["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ticket| ticket["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, BTreeSet::from([CUSTOMER_ID]), "{tickets}");

    let before = ticket_count(&stack.moto).await.unwrap();
    let created = structured(
        &call(
            &client,
            "support___create_support_ticket",
            new_ticket(CUSTOMER_ID, "own-ticket"),
        )
        .await,
    );
    assert_eq!(created["created"], json!(true));
    assert_eq!(ticket_count(&stack.moto).await.unwrap(), before + 1);
    let warranty = call(
        &client,
        "support___check_warranty",
        json!({"serial_number": OWN_SERIAL, "customer_id": CUSTOMER_ID}),
    )
    .await;
    assert!(!is_policy_denial(&warranty), "{warranty:?}");
    assert_eq!(
        stack
            .gateway
            .forwarded()
            .iter()
            .map(|call| call.tool.as_str())
            .collect::<Vec<_>>(),
        [
            "support___list_customer_tickets",
            "support___create_support_ticket",
            "support___check_warranty"
        ]
    );
    assert!(stack.gateway.denials().is_empty());
}

#[tokio::test]
async fn another_customers_id_is_denied_in_agentcores_shape_and_never_reaches_the_server() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let client = stack
        .client(&stack.id_token(CUSTOMER_USERNAME).await.unwrap())
        .await
        .unwrap();
    let before = ticket_count(&stack.moto).await.unwrap();

    for (tool, arguments) in [
        (
            "support___create_support_ticket",
            new_ticket(OTHER, "for-someone-else"),
        ),
        (
            "support___list_customer_tickets",
            json!({"customer_id": OTHER}),
        ),
        (
            "support___get_support_ticket",
            json!({"ticket_id": OTHER_TICKET, "customer_id": OTHER}),
        ),
        (
            "support___add_ticket_note",
            json!({"ticket_id": OTHER_TICKET, "customer_id": OTHER, "note": "hello"}),
        ),
    ] {
        let result = call(&client, tool, arguments).await;
        assert_eq!(error_text(&result), denied_by_default(), "{tool}");
    }

    assert_eq!(
        ticket_count(&stack.moto).await.unwrap(),
        before,
        "no ticket was opened"
    );
    assert!(
        stack.gateway.forwarded().is_empty(),
        "nothing reached the MCP server: {:?}",
        stack.gateway.forwarded()
    );
    let denials = stack.gateway.denials();
    assert_eq!(denials.len(), 4);
    let subject = stack.pool.subject_of(CUSTOMER_USERNAME).await.unwrap();
    assert!(denials.iter().all(|denial| denial.principal == subject
        && denial.arguments["customer_id"] == json!(OTHER)
        && denial.reason == DENIED_BY_DEFAULT));
}

#[tokio::test]
async fn a_customer_call_without_a_customer_id_or_with_one_of_another_type_is_denied() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let client = stack
        .client(&stack.id_token(CUSTOMER_USERNAME).await.unwrap())
        .await
        .unwrap();

    // Without customer_id the MCP server would not check the owner: the policy denies it.
    for (tool, arguments) in [
        (
            "support___get_support_ticket",
            json!({"ticket_id": OWN_TICKET}),
        ),
        (
            "support___check_warranty",
            json!({"serial_number": OWN_SERIAL}),
        ),
        (
            "support___add_ticket_note",
            json!({"ticket_id": OWN_TICKET, "note": "hello"}),
        ),
    ] {
        let result = call(&client, tool, arguments).await;
        assert_eq!(error_text(&result), denied_by_default(), "{tool}");
    }
    // An input that does not fit the schema (a number for the id) is denied, not forwarded.
    let result = call(
        &client,
        "support___list_customer_tickets",
        json!({"customer_id": 1}),
    )
    .await;
    assert!(is_policy_denial(&result), "{result:?}");
    assert!(stack.gateway.forwarded().is_empty());
    assert_eq!(stack.gateway.denials().len(), 4);
}

#[tokio::test]
async fn support_staff_call_every_tool_for_any_customer() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let client = stack
        .client(&stack.id_token(GATEWAY_STAFF_USERNAME).await.unwrap())
        .await
        .unwrap();
    assert_eq!(listed(&client).await, all_tools());

    let tickets = structured(
        &call(
            &client,
            "support___list_customer_tickets",
            json!({"customer_id": OTHER}),
        )
        .await,
    );
    let listed_tickets = tickets["tickets"].as_array().unwrap();
    assert!(!listed_tickets.is_empty(), "{tickets}");
    assert!(
        listed_tickets
            .iter()
            .all(|ticket| ticket["customer_id"] == json!(OTHER)),
        "{tickets}"
    );
    let ticket = structured(
        &call(
            &client,
            "support___get_support_ticket",
            json!({"ticket_id": OTHER_TICKET, "customer_id": OTHER}),
        )
        .await,
    );
    assert_eq!(ticket["ticket_id"], json!(OTHER_TICKET), "{ticket}");
    assert!(stack.gateway.denials().is_empty());
}

#[tokio::test]
async fn a_caller_linked_to_no_customer_lists_and_calls_only_the_product_tools() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let client = stack
        .client(&stack.id_token(UNLINKED_USERNAME).await.unwrap())
        .await
        .unwrap();
    let products: BTreeSet<String> = PRODUCT_TOOLS.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(listed(&client).await, products);

    let summary = structured(
        &call(
            &client,
            "support___get_product_rating_summary",
            json!({"product_id": "PROD-001"}),
        )
        .await,
    );
    assert_eq!(summary["product_id"], json!("PROD-001"), "{summary}");
    for customer in [CUSTOMER_ID, OTHER] {
        let result = call(
            &client,
            "support___list_customer_tickets",
            json!({"customer_id": customer}),
        )
        .await;
        assert_eq!(error_text(&result), denied_by_default());
    }
    assert_eq!(
        stack
            .gateway
            .forwarded()
            .iter()
            .map(|call| call.tool.as_str())
            .collect::<Vec<_>>(),
        ["support___get_product_rating_summary"]
    );
}

#[tokio::test]
async fn tools_list_and_search_show_each_principal_what_it_could_call() {
    let stack = PolicyGatewayStack::start_with(GatewayOptions::new().semantic_search())
        .await
        .unwrap();
    let with_search = |mut tools: BTreeSet<String>| {
        tools.insert(SEARCH_TOOL.to_owned());
        tools
    };
    let products: BTreeSet<String> = PRODUCT_TOOLS.iter().map(|t| (*t).to_owned()).collect();
    // A customer could call every customer tool with their own id, so all are listed.
    for (username, expected) in [
        (CUSTOMER_USERNAME, with_search(all_tools())),
        (GATEWAY_STAFF_USERNAME, with_search(all_tools())),
        (UNLINKED_USERNAME, with_search(products.clone())),
        // The harness's `staff` group is not the one the staff policy names.
        (STAFF_USERNAME, with_search(products.clone())),
    ] {
        let client = stack
            .client(&stack.id_token(username).await.unwrap())
            .await
            .unwrap();
        assert_eq!(listed(&client).await, expected, "{username}");
    }

    let hits = |result: CallToolResult| -> BTreeSet<String> {
        structured(&result)["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let query = json!({"query": "support ticket for a customer"});
    let unlinked = stack
        .client(&stack.id_token(UNLINKED_USERNAME).await.unwrap())
        .await
        .unwrap();
    let unlinked_hits = hits(call(&unlinked, SEARCH_TOOL, query.clone()).await);
    assert!(
        unlinked_hits.is_subset(&products),
        "search shows an unlinked caller only product tools: {unlinked_hits:?}"
    );
    let customer = stack
        .client(&stack.id_token(CUSTOMER_USERNAME).await.unwrap())
        .await
        .unwrap();
    let customer_hits = hits(call(&customer, SEARCH_TOOL, query).await);
    assert!(
        customer_hits.contains("support___list_customer_tickets"),
        "{customer_hits:?}"
    );
}

#[tokio::test]
async fn requests_without_an_acceptable_id_token_get_401_with_the_challenge() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}
    });
    let other_client = stack
        .pool
        .sign_in(CUSTOMER_USERNAME, &stack.pool.other_client_id)
        .await
        .unwrap()
        .id_token;
    let access = stack.pool.customer_tokens().await.unwrap().access_token;
    let http = reqwest::Client::new();
    for (case, token) in [
        ("no token", None),
        ("another app client's ID token", Some(other_client)),
        ("an access token", Some(access)),
        (
            "a forged token",
            Some("eyJhbGciOiJSUzI1NiIsImtpZCI6ImR1bW15In0.eyJzdWIiOiJ4In0.c2ln".to_owned()),
        ),
    ] {
        let mut request = http
            .post(&stack.gateway.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{case}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer resource_metadata=\"")
                && challenge.contains("/.well-known/oauth-protected-resource"),
            "{case}: {challenge}"
        );
    }
    assert_eq!(stack.gateway.unauthorized(), 4);
    assert!(stack.gateway.calls().is_empty());
}

#[tokio::test]
async fn the_standalone_binary_enforces_the_policies() {
    let stack = PolicyGatewayStack::start().await.unwrap();
    let env: Vec<(String, String)> = [
        ("GATEWAY_STANDIN_PORT", "0".to_owned()),
        (
            "GATEWAY_STANDIN_TARGETS",
            format!("support={}", stack.mcp.url),
        ),
        (
            "GATEWAY_STANDIN_POLICIES_DIR",
            workspace::root().join("policies").display().to_string(),
        ),
        ("AUTH_MODE", "verify".to_owned()),
        ("AUTH_ISSUER", stack.pool.issuer.clone()),
        ("AUTH_JWKS_URL", stack.pool.jwks_url.clone()),
        ("AUTH_ALLOWED_CLIENT_IDS", stack.pool.client_id.clone()),
        ("AUTH_TOKEN_USE", "id".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let process = ServerProcess::spawn(&workspace::binary("gateway-standin"), &[], &env)
        .await
        .unwrap();
    let url = format!("http://{}/mcp", process.address);

    let unauthenticated = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let token = stack.id_token(CUSTOMER_USERNAME).await.unwrap();
    let config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            url.clone(),
        )
        .auth_header(token);
    let client = rmcp::ServiceExt::serve(
        (),
        rmcp::transport::StreamableHttpClientTransport::from_config(config),
    )
    .await
    .unwrap();
    let before = ticket_count(&stack.moto).await.unwrap();
    let denied = call(
        &client,
        "support___create_support_ticket",
        new_ticket(OTHER, "binary-other"),
    )
    .await;
    assert_eq!(error_text(&denied), denied_by_default());
    let own = structured(
        &call(
            &client,
            "support___create_support_ticket",
            new_ticket(CUSTOMER_ID, "binary-own"),
        )
        .await,
    );
    assert_eq!(own["created"], json!(true));
    assert_eq!(ticket_count(&stack.moto).await.unwrap(), before + 1);
    assert!(
        process
            .logs()
            .iter()
            .any(|line| line.contains("tool call denied by policy")),
        "the denial is logged: {:?}",
        process.logs()
    );
}
