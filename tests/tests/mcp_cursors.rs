//! Pagination cursors of the MCP server, end to end: a real MCP client on the real binary
//! against moto seeded with the shared fixture. A cursor continues only the list it came from
//! (tool, partition, filters), only for the caller it was issued to, and only in the server
//! process that issued it; any other use, an edited cursor or a hand-made one gets the
//! `isError` "cursor is not valid" answer and never a page. Proper cursors page to the end.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::RoleClient;
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use system_tests::cognito::CognitoPool;
use system_tests::fixtures::{self, text};
use system_tests::mcp_server::{McpServer, call, error_text, seeded_stack, structured};
use system_tests::moto::Moto;

type Client = RunningService<RoleClient, ()>;

/// What every refused cursor's answer says.
const REFUSED: &str = "cursor is not valid";

/// The `next_cursor` of the first page of `tool` with one item per page.
async fn first_cursor(client: &Client, tool: &str, mut arguments: Value) -> String {
    arguments["page_size"] = json!(1);
    let page = structured(&call(client, tool, arguments.clone()).await);
    page["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{tool} {arguments} has more than one page: {page}"))
        .to_owned()
}

/// Asserts that `tool` refuses `cursor` with `arguments`, answering no page.
async fn assert_refused(
    client: &Client,
    case: &str,
    tool: &str,
    mut arguments: Value,
    cursor: &str,
) {
    arguments["cursor"] = json!(cursor);
    let result = call(client, tool, arguments).await;
    let message = error_text(&result);
    assert!(message.contains(REFUSED), "{case}: {message}");
    assert!(
        message.contains("first page"),
        "{case}: the answer says how to recover: {message}"
    );
}

/// Records of `fixtures/<name>.json` grouped by the values of `fields`.
fn grouped(name: &str, fields: &[&str]) -> BTreeMap<Vec<String>, Vec<Value>> {
    let mut groups: BTreeMap<Vec<String>, Vec<Value>> = BTreeMap::new();
    for record in fixtures::load(name) {
        let key = fields.iter().map(|f| text(&record, f).to_owned()).collect();
        groups.entry(key).or_default().push(record);
    }
    groups
}

/// The first group with at least `n` records, and its key.
fn with_at_least(
    groups: &BTreeMap<Vec<String>, Vec<Value>>,
    n: usize,
) -> (Vec<String>, Vec<Value>) {
    groups
        .iter()
        .find(|(_, records)| records.len() >= n)
        .map(|(key, records)| (key.clone(), records.clone()))
        .expect("the fixture has such a group")
}

#[tokio::test]
async fn a_cursor_only_continues_the_list_and_filters_it_came_from() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();

    let tickets = grouped("tickets", &["customer_id"]);
    let (owner, _) = with_at_least(&tickets, 2);
    let owner = &owner[0];
    let other = tickets.keys().map(|k| &k[0]).find(|c| *c != owner).unwrap();
    let cursor = first_cursor(
        &client,
        "list_customer_tickets",
        json!({"customer_id": owner}),
    )
    .await;
    assert_refused(
        &client,
        "another customer's tickets",
        "list_customer_tickets",
        json!({"customer_id": other}),
        &cursor,
    )
    .await;

    let (key, _) = with_at_least(&grouped("tickets", &["customer_id", "status"]), 2);
    let (customer, status) = (&key[0], &key[1]);
    let other_status = ["open", "pending", "resolved", "closed"]
        .into_iter()
        .find(|s| s != status)
        .unwrap();
    let cursor = first_cursor(
        &client,
        "list_customer_tickets",
        json!({"customer_id": customer, "status": status}),
    )
    .await;
    assert_refused(
        &client,
        "another status",
        "list_customer_tickets",
        json!({"customer_id": customer, "status": other_status}),
        &cursor,
    )
    .await;
    assert_refused(
        &client,
        "no status filter",
        "list_customer_tickets",
        json!({"customer_id": customer}),
        &cursor,
    )
    .await;
    let unfiltered = first_cursor(
        &client,
        "list_customer_tickets",
        json!({"customer_id": customer}),
    )
    .await;
    assert_refused(
        &client,
        "an unfiltered cursor with a status filter",
        "list_customer_tickets",
        json!({"customer_id": customer, "status": status}),
        &unfiltered,
    )
    .await;

    let products = grouped("reviews", &["product_id"]);
    let (product, _) = with_at_least(&products, 2);
    let other_product = products.keys().find(|p| **p != product).unwrap();
    let cursor = first_cursor(
        &client,
        "list_product_reviews",
        json!({"product_id": product[0]}),
    )
    .await;
    assert_refused(
        &client,
        "another product's reviews",
        "list_product_reviews",
        json!({"product_id": other_product[0]}),
        &cursor,
    )
    .await;

    let (reviewer, _) = with_at_least(&grouped("reviews", &["customer_id"]), 2);
    let cursor = first_cursor(
        &client,
        "list_customer_reviews",
        json!({"customer_id": reviewer[0]}),
    )
    .await;
    assert_refused(
        &client,
        "a review cursor on the same customer's warranties",
        "list_customer_warranties",
        json!({"customer_id": reviewer[0]}),
        &cursor,
    )
    .await;
    assert_refused(
        &client,
        "a review cursor on the same customer's tickets",
        "list_customer_tickets",
        json!({"customer_id": reviewer[0]}),
        &cursor,
    )
    .await;

    let page = structured(
        &call(
            &client,
            "list_customer_reviews",
            json!({"customer_id": reviewer[0], "page_size": 1, "cursor": cursor}),
        )
        .await,
    );
    assert_eq!(
        page["reviews"].as_array().map(Vec::len),
        Some(1),
        "the same cursor still continues its own list: {page}"
    );
}

#[tokio::test]
async fn an_edited_or_hand_made_cursor_is_refused() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (customer, records) = with_at_least(&grouped("tickets", &["customer_id"]), 2);
    let arguments = json!({"customer_id": customer[0]});
    let cursor = first_cursor(&client, "list_customer_tickets", arguments.clone()).await;
    let length = cursor.chars().count();
    for position in [0, 5, length / 2, length - 10, length - 2] {
        let edited: String = cursor
            .chars()
            .enumerate()
            .map(|(i, c)| match (i == position, c) {
                (false, c) => c,
                (true, 'A') => 'B',
                (true, _) => 'A',
            })
            .collect();
        assert_ne!(edited, cursor);
        assert_refused(
            &client,
            &format!("one character changed at {position}"),
            "list_customer_tickets",
            arguments.clone(),
            &edited,
        )
        .await;
    }
    // A cursor built by hand the way an unsigned one would be: the key of a real ticket.
    let ticket = &records[0];
    let forged = URL_SAFE_NO_PAD.encode(
        json!({
            "ticket_id": text(ticket, "ticket_id"),
            "customer_id": text(ticket, "customer_id"),
            "created_at": "2030-01-01T00:00:00Z",
        })
        .to_string(),
    );
    assert_refused(
        &client,
        "a hand-made key",
        "list_customer_tickets",
        arguments.clone(),
        &forged,
    )
    .await;
    let mut truncated = cursor.clone();
    truncated.truncate(cursor.len() - 4);
    assert_refused(
        &client,
        "a truncated cursor",
        "list_customer_tickets",
        arguments,
        &truncated,
    )
    .await;
}

#[tokio::test]
async fn a_cursor_from_before_a_restart_is_refused_and_the_first_page_still_works() {
    let moto = Moto::start().await.expect("moto starts");
    let mut before = McpServer::seeded(&moto).await.expect("server starts");
    let (product, _) = with_at_least(&grouped("reviews", &["product_id"]), 2);
    let arguments = json!({"product_id": product[0]});
    let cursor = {
        let client = before.client().await.unwrap();
        first_cursor(&client, "list_product_reviews", arguments.clone()).await
    };
    before
        .process
        .terminate(Duration::from_secs(10))
        .await
        .expect("the first server stops");
    let after = McpServer::start(&moto, &[]).await.expect("server restarts");
    let client = after.client().await.unwrap();
    assert_refused(
        &client,
        "a cursor of the previous process",
        "list_product_reviews",
        arguments.clone(),
        &cursor,
    )
    .await;
    let fresh = first_cursor(&client, "list_product_reviews", arguments).await;
    assert_ne!(fresh, cursor, "a new process seals with a new key");
}

/// Every item of `tool` for `arguments`, following cursors `page_size` items at a time.
async fn all_pages(
    client: &Client,
    tool: &str,
    field: &str,
    arguments: Value,
    page_size: u16,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut page_arguments = arguments.clone();
        page_arguments["page_size"] = json!(page_size);
        if let Some(cursor) = &cursor {
            page_arguments["cursor"] = json!(cursor);
        }
        let page = structured(&call(client, tool, page_arguments).await);
        let found = page[field].as_array().expect("a list of items");
        assert!(
            !found.is_empty(),
            "{tool}: no page is empty, not even the last"
        );
        items.extend(found.iter().cloned());
        pages += 1;
        assert!(pages < 100, "{tool}: pagination ends");
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, pages),
        }
    }
}

fn ids<'a>(records: &'a [Value], field: &str) -> Vec<&'a str> {
    records.iter().map(|r| text(r, field)).collect()
}

#[tokio::test]
async fn proper_cursors_page_through_to_the_end_without_repeats() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();

    let (key, expected) = with_at_least(&grouped("tickets", &["customer_id", "status"]), 2);
    let (tickets, pages) = all_pages(
        &client,
        "list_customer_tickets",
        "tickets",
        json!({"customer_id": key[0], "status": key[1]}),
        1,
    )
    .await;
    assert_eq!(pages, expected.len());
    let got = ids(&tickets, "ticket_id");
    assert_eq!(
        got.iter().collect::<HashSet<_>>().len(),
        got.len(),
        "no ticket twice"
    );
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        ids(&expected, "ticket_id")
            .into_iter()
            .collect::<HashSet<_>>()
    );

    let (owner, expected) = with_at_least(&grouped("warranties", &["customer_id"]), 3);
    let (warranties, pages) = all_pages(
        &client,
        "list_customer_warranties",
        "warranties",
        json!({"customer_id": owner[0]}),
        2,
    )
    .await;
    assert_eq!(pages, expected.len().div_ceil(2));
    let got = ids(&warranties, "serial_number");
    assert_eq!(
        got.iter().collect::<HashSet<_>>().len(),
        got.len(),
        "no warranty twice"
    );
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        ids(&expected, "serial_number")
            .into_iter()
            .collect::<HashSet<_>>()
    );
}

/// An rmcp client on `url` sending `Authorization: Bearer <token>`.
async fn client_with_token(url: &str, token: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap_or_else(|e| panic!("MCP client cannot connect to {url}: {e}"))
}

#[tokio::test]
async fn with_token_checks_a_cursor_of_one_caller_is_refused_for_another() {
    let moto = Moto::start().await.expect("moto starts");
    system_tests::mcp_server::seed(&moto).await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let auth_env = pool.auth_env();
    let env: Vec<(&str, &str)> = auth_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let server = McpServer::start(&moto, &env).await.unwrap();
    let first = client_with_token(
        &server.url,
        &pool.customer_tokens().await.unwrap().access_token,
    )
    .await;
    let second = client_with_token(
        &server.url,
        &pool.staff_tokens().await.unwrap().access_token,
    )
    .await;

    let (customer, _) = with_at_least(&grouped("tickets", &["customer_id"]), 2);
    let arguments = json!({"customer_id": customer[0]});
    let cursor = first_cursor(&first, "list_customer_tickets", arguments.clone()).await;
    assert_refused(
        &second,
        "the same list read by another caller",
        "list_customer_tickets",
        arguments.clone(),
        &cursor,
    )
    .await;
    let mut continued = arguments;
    continued["cursor"] = json!(cursor);
    let page = structured(&call(&first, "list_customer_tickets", continued).await);
    assert!(
        !page["tickets"].as_array().expect("tickets").is_empty(),
        "the caller it was issued to continues the list: {page}"
    );
}
