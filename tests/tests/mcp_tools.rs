//! The MCP server's tools, called by a real MCP client (rmcp, streamable HTTP) on the real
//! binary, against moto seeded with the shared fixture. Expected answers are computed from
//! `fixtures/` directly.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use serde_json::{Value, json};
use system_tests::fixtures::{self, int, text};
use system_tests::mcp_server::{call, error_text, seeded_stack, structured, ticket_count};

/// The product with the most reviews in the fixture, and its reviews.
fn most_reviewed_product() -> (String, Vec<Value>) {
    let mut by_product: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for review in fixtures::load("reviews") {
        by_product
            .entry(text(&review, "product_id").to_owned())
            .or_default()
            .push(review);
    }
    by_product
        .into_iter()
        .max_by_key(|(_, reviews)| reviews.len())
        .expect("the fixture has reviews")
}

fn expected_warranty_status(warranty: &Value) -> (&'static str, i64) {
    let days_remaining = int(warranty, "duration_days") - int(warranty, "start_days_ago");
    let status = match days_remaining {
        d if d < 0 => "expired",
        d if d <= 30 => "expiring_soon",
        _ => "active",
    };
    (status, days_remaining)
}

#[tokio::test]
async fn tools_list_names_schemas_and_annotations() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: HashSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
    let expected = [
        "get_review",
        "list_product_reviews",
        "list_customer_reviews",
        "get_product_rating_summary",
        "check_warranty",
        "list_customer_warranties",
        "create_support_ticket",
        "get_support_ticket",
        "list_customer_tickets",
        "add_ticket_note",
    ];
    assert_eq!(names, expected.iter().map(|n| n.to_string()).collect());
    for tool in &tools {
        let name = tool.name.as_ref();
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{name} breaks Bedrock's tool-name rule"
        );
        assert!(
            tool.description.as_deref().is_some_and(|d| d.len() > 40),
            "{name} needs a description a model can act on"
        );
        let output = tool
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has no output schema"));
        assert_eq!(
            output.get("type"),
            Some(&json!("object")),
            "{name}'s output schema must have an object root"
        );
        let annotations = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{name} has no annotations"));
        let writes = matches!(name, "create_support_ticket" | "add_ticket_note");
        assert_eq!(
            annotations.read_only_hint,
            Some(!writes),
            "{name} readOnlyHint"
        );
        assert_eq!(
            annotations.destructive_hint,
            Some(false),
            "{name} destructiveHint"
        );
        assert_eq!(
            annotations.open_world_hint,
            Some(false),
            "{name} openWorldHint"
        );
        assert_eq!(
            annotations.idempotent_hint,
            Some(name != "add_ticket_note"),
            "{name} idempotentHint"
        );
    }
    let list_reviews = tools
        .iter()
        .find(|t| t.name == "list_product_reviews")
        .unwrap();
    let page_size = &list_reviews.input_schema["properties"]["page_size"];
    assert_eq!(
        page_size["maximum"],
        json!(50),
        "page size is bounded in the schema: {page_size}"
    );
}

/// Every id a tool takes publishes the one record-id rule, word for word, with its own
/// description and, when optional, `null` besides.
#[tokio::test]
async fn every_id_argument_publishes_the_record_id_rule() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let tools = client.list_all_tools().await.expect("tools/list");
    let mut ids = 0;
    for tool in &tools {
        let schema = &tool.input_schema;
        let properties = schema["properties"].as_object().unwrap();
        let required: Vec<&Value> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        for (field, property) in properties {
            if !(field.ends_with("_id") || field == "serial_number") {
                continue;
            }
            ids += 1;
            let at = format!("{}.{field}", tool.name);
            assert_eq!(property["pattern"], json!("^[A-Za-z0-9._-]+$"), "{at}");
            assert_eq!(property["minLength"], json!(1), "{at}");
            assert_eq!(property["maxLength"], json!(64), "{at}");
            assert!(property["description"].is_string(), "{at}");
            let expected_type = if required.contains(&&json!(field)) {
                json!("string")
            } else {
                json!(["string", "null"])
            };
            assert_eq!(property["type"], expected_type, "{at}");
        }
    }
    assert!(ids >= 15, "every tool's ids were seen: {ids}");
}

#[tokio::test]
async fn get_review_returns_the_fixture_record() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let review = &fixtures::load("reviews")[0];
    let result = call(
        &client,
        "get_review",
        json!({"review_id": text(review, "review_id")}),
    )
    .await;
    let got = structured(&result);
    for key in [
        "review_id",
        "product_id",
        "title",
        "body",
        "rating",
        "verified_purchase",
    ] {
        assert_eq!(got[key], review[key], "{key}");
    }
    for private in ["customer_id", "order_id"] {
        assert!(
            got.get(private).is_none(),
            "a public review has no {private}: {got}"
        );
    }
    assert!(
        got["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "timestamp in UTC: {got}"
    );
    let content = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .expect("a text block mirrors the structured result");
    let mirrored: Value = serde_json::from_str(&content.text).expect("the text block is JSON");
    assert_eq!(mirrored, got);
}

#[tokio::test]
async fn unknown_ids_are_error_results_that_say_what_to_do() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    for (tool, arguments, expected) in [
        ("get_review", json!({"review_id": "REV-9999"}), "REV-9999"),
        (
            "check_warranty",
            json!({"serial_number": "SN-NOPE-0000"}),
            "SN-NOPE-0000",
        ),
        (
            "get_support_ticket",
            json!({"ticket_id": "TKT-9999"}),
            "TKT-9999",
        ),
        (
            "add_ticket_note",
            json!({"ticket_id": "TKT-9999", "note": "hello"}),
            "TKT-9999",
        ),
    ] {
        let message = error_text(&call(&client, tool, arguments).await);
        assert!(
            message.contains("no ") && message.contains(expected),
            "{tool}: {message}"
        );
    }
}

#[tokio::test]
async fn product_reviews_page_to_the_end_newest_first() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (product_id, reviews) = most_reviewed_product();
    assert!(
        reviews.len() >= 8,
        "the fixture has a product with many reviews"
    );
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut arguments = json!({"product_id": product_id, "page_size": 3});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = structured(&call(&client, "list_product_reviews", arguments).await);
        let items = page["reviews"].as_array().expect("reviews array");
        assert!(!items.is_empty(), "no page is empty, not even the last");
        assert!(items.len() <= 3);
        seen.extend(items.iter().cloned());
        pages += 1;
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 100, "pagination must end");
    }
    assert_eq!(pages, reviews.len().div_ceil(3));
    let ids: Vec<&str> = seen.iter().map(|r| text(r, "review_id")).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no review twice");
    let expected: HashSet<&str> = reviews.iter().map(|r| text(r, "review_id")).collect();
    assert_eq!(unique, expected);
    let times: Vec<&str> = seen.iter().map(|r| text(r, "created_at")).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
}

#[tokio::test]
async fn customer_reviews_list_only_that_customers_reviews() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let reviews = fixtures::load("reviews");
    let customer = text(&reviews[0], "customer_id");
    let expected: HashSet<&str> = reviews
        .iter()
        .filter(|r| text(r, "customer_id") == customer)
        .map(|r| text(r, "review_id"))
        .collect();
    let page = structured(
        &call(
            &client,
            "list_customer_reviews",
            json!({"customer_id": customer, "page_size": 50}),
        )
        .await,
    );
    let got: HashSet<&str> = page["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| text(r, "review_id"))
        .collect();
    assert_eq!(got, expected);
    assert!(page.get("next_cursor").is_none());
    for review in page["reviews"].as_array().unwrap() {
        assert_eq!(review["customer_id"], json!(customer), "{review}");
        assert!(
            review["order_id"].is_string(),
            "the owner sees the order: {review}"
        );
    }
}

#[tokio::test]
async fn rating_summary_counts_stars_and_averages() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (product_id, reviews) = most_reviewed_product();
    let mut stars = [0u64; 5];
    for review in &reviews {
        stars[usize::try_from(int(review, "rating") - 1).unwrap()] += 1;
    }
    let total: u64 = stars.iter().sum();
    let weighted: u64 = stars.iter().zip(1..).map(|(c, s)| c * s).sum();
    let summary = structured(
        &call(
            &client,
            "get_product_rating_summary",
            json!({"product_id": product_id}),
        )
        .await,
    );
    assert_eq!(summary["review_count"], json!(total));
    assert_eq!(
        summary["star_counts"],
        json!({"one": stars[0], "two": stars[1], "three": stars[2], "four": stars[3], "five": stars[4]})
    );
    let average = summary["average_rating"].as_f64().unwrap();
    assert!(
        (average - weighted as f64 / total as f64).abs() < 0.006,
        "average {average}"
    );

    let empty = structured(
        &call(
            &client,
            "get_product_rating_summary",
            json!({"product_id": "PROD-999"}),
        )
        .await,
    );
    assert_eq!(empty["review_count"], json!(0));
    assert!(
        empty.get("average_rating").is_none(),
        "no average without reviews: {empty}"
    );
}

#[tokio::test]
async fn check_warranty_reports_status_relative_to_today() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let mut statuses = HashSet::new();
    for warranty in fixtures::load("warranties") {
        let (status, days_remaining) = expected_warranty_status(&warranty);
        let got = structured(
            &call(
                &client,
                "check_warranty",
                json!({"serial_number": text(&warranty, "serial_number")}),
            )
            .await,
        );
        assert_eq!(got["status"], json!(status), "{got}");
        assert_eq!(got["days_remaining"], json!(days_remaining), "{got}");
        assert_eq!(got["customer_id"], warranty["customer_id"]);
        assert!(got["coverage"].as_str().is_some_and(|c| !c.is_empty()));
        statuses.insert(status);
    }
    assert_eq!(
        statuses.len(),
        3,
        "the fixture exercises active, expiring_soon and expired"
    );
}

#[tokio::test]
async fn customer_warranties_are_that_customers_latest_ending_first() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let warranties = fixtures::load("warranties");
    let customer = text(&warranties[0], "customer_id");
    let expected: HashSet<&str> = warranties
        .iter()
        .filter(|w| text(w, "customer_id") == customer)
        .map(|w| text(w, "serial_number"))
        .collect();
    let page = structured(
        &call(
            &client,
            "list_customer_warranties",
            json!({"customer_id": customer, "page_size": 50}),
        )
        .await,
    );
    let items = page["warranties"].as_array().unwrap();
    let got: HashSet<&str> = items.iter().map(|w| text(w, "serial_number")).collect();
    assert_eq!(got, expected);
    let ends: Vec<&str> = items.iter().map(|w| text(w, "end_date")).collect();
    assert!(
        ends.windows(2).all(|w| w[0] >= w[1]),
        "latest-ending first: {ends:?}"
    );
}

#[tokio::test]
async fn customer_tickets_filter_by_status() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let tickets = fixtures::load("tickets");
    let customer = "CUST-001";
    let mine: Vec<&Value> = tickets
        .iter()
        .filter(|t| text(t, "customer_id") == customer)
        .collect();
    assert!(mine.len() >= 2);
    let all = structured(
        &call(
            &client,
            "list_customer_tickets",
            json!({"customer_id": customer, "page_size": 50}),
        )
        .await,
    );
    assert_eq!(all["tickets"].as_array().unwrap().len(), mine.len());
    for status in ["open", "pending", "resolved", "closed"] {
        let expected: HashSet<&str> = mine
            .iter()
            .filter(|t| text(t, "status") == status)
            .map(|t| text(t, "ticket_id"))
            .collect();
        let page = structured(
            &call(
                &client,
                "list_customer_tickets",
                json!({"customer_id": customer, "status": status}),
            )
            .await,
        );
        let got: HashSet<&str> = page["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| text(t, "ticket_id"))
            .collect();
        assert_eq!(got, expected, "status {status}");
    }
    let ticket = mine[0];
    let full = structured(
        &call(
            &client,
            "get_support_ticket",
            json!({"ticket_id": text(ticket, "ticket_id")}),
        )
        .await,
    );
    assert_eq!(full["description"], ticket["description"]);
    assert_eq!(
        full["notes"].as_array().unwrap().len(),
        ticket["notes"].as_array().unwrap().len()
    );
}

fn new_ticket(token: &str) -> Value {
    json!({
        "customer_id": "CUST-002",
        "subject": "Laptop fan is loud",
        "description": "The fan runs at full speed even when idle.",
        "category": "product",
        "priority": "high",
        "client_token": token,
    })
}

#[tokio::test]
async fn creating_a_ticket_is_idempotent_with_its_client_token() {
    let (moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let first = structured(&call(&client, "create_support_ticket", new_ticket("token-1")).await);
    assert_eq!(first["created"], json!(true));
    let ticket_id = text(&first["ticket"], "ticket_id").to_owned();
    assert_eq!(first["ticket"]["status"], json!("open"));
    assert_eq!(first["ticket"]["priority"], json!("high"));

    let retry = structured(&call(&client, "create_support_ticket", new_ticket("token-1")).await);
    assert_eq!(retry["created"], json!(false));
    assert_eq!(
        retry["ticket"], first["ticket"],
        "a retry returns the ticket as first created"
    );

    let mut changed = new_ticket("token-1");
    changed["subject"] = json!("Something else entirely");
    let message = error_text(&call(&client, "create_support_ticket", changed).await);
    assert!(
        message.contains("client_token") && message.contains(&ticket_id),
        "{message}"
    );

    let other = structured(&call(&client, "create_support_ticket", new_ticket("token-2")).await);
    assert_ne!(other["ticket"]["ticket_id"], first["ticket"]["ticket_id"]);

    let listed = structured(
        &call(
            &client,
            "list_customer_tickets",
            json!({"customer_id": "CUST-002", "status": "open", "page_size": 50}),
        )
        .await,
    );
    let ids: Vec<&str> = listed["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| text(t, "ticket_id"))
        .collect();
    assert!(
        ids.contains(&ticket_id.as_str()),
        "a new ticket is listed as open: {ids:?}"
    );
    assert_eq!(
        ticket_count(&moto).await.unwrap(),
        fixtures::load("tickets").len() + 2
    );
}

#[tokio::test]
async fn concurrent_retries_of_one_ticket_create_it_once() {
    let (moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let calls = (0..8).map(|_| call(&client, "create_support_ticket", new_ticket("same-token")));
    let results: Vec<Value> = join_all(calls).await.iter().map(structured).collect();
    let ids: HashSet<&Value> = results.iter().map(|r| &r["ticket"]["ticket_id"]).collect();
    assert_eq!(ids.len(), 1, "every retry names the same ticket");
    let created = results
        .iter()
        .filter(|r| r["created"] == json!(true))
        .count();
    assert_eq!(created, 1, "exactly one call created it");
    assert_eq!(
        ticket_count(&moto).await.unwrap(),
        fixtures::load("tickets").len() + 1
    );
}

#[tokio::test]
async fn notes_are_appended_in_order() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let ticket = &fixtures::load("tickets")[0];
    let ticket_id = text(ticket, "ticket_id");
    let before = ticket["notes"].as_array().unwrap().len();
    call(
        &client,
        "add_ticket_note",
        json!({"ticket_id": ticket_id, "note": "Called the customer back."}),
    )
    .await;
    let after = structured(
        &call(
            &client,
            "add_ticket_note",
            json!({"ticket_id": ticket_id, "note": "Replacement shipped.", "author": "customer"}),
        )
        .await,
    );
    let notes = after["notes"].as_array().unwrap();
    assert_eq!(notes.len(), before + 2);
    assert_eq!(notes[before]["body"], json!("Called the customer back."));
    assert_eq!(notes[before]["author"], json!("agent"));
    assert_eq!(notes[before + 1]["author"], json!("customer"));
    assert_eq!(after["updated_at"], notes[before + 1]["created_at"]);
}

#[tokio::test]
async fn a_note_for_a_named_customer_is_written_only_on_that_customers_ticket() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let ticket = &fixtures::load("tickets")[0];
    let ticket_id = text(ticket, "ticket_id");
    let owner = text(ticket, "customer_id");
    let before = ticket["notes"].as_array().unwrap().len();
    let refused = call(
        &client,
        "add_ticket_note",
        json!({"ticket_id": ticket_id, "customer_id": "CUST-999", "note": "Not mine."}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    let message = error_text(&refused);
    assert!(message.contains("no ticket with id"), "{message}");
    let written = structured(
        &call(
            &client,
            "add_ticket_note",
            json!({"ticket_id": ticket_id, "customer_id": owner, "note": "Mine."}),
        )
        .await,
    );
    let notes = written["notes"].as_array().unwrap();
    assert_eq!(notes.len(), before + 1, "only the owner's note was written");
    assert_eq!(notes[before]["body"], json!("Mine."));
}

#[tokio::test]
async fn bad_arguments_are_error_results_naming_the_field() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let long = "x".repeat(5000);
    let cases = [
        ("get_review", json!({"review_id": ""}), "review_id"),
        (
            "get_review",
            json!({"review_id": "REV 0001; DROP"}),
            "review_id",
        ),
        ("get_review", json!({"review_id": 5}), "review_id"),
        ("get_review", json!({}), "review_id"),
        (
            "list_product_reviews",
            json!({"product_id": "PROD-001", "page_size": 0}),
            "page_size",
        ),
        (
            "list_product_reviews",
            json!({"product_id": "PROD-001", "page_size": 500}),
            "page_size",
        ),
        (
            "list_product_reviews",
            json!({"product_id": "PROD-001", "cursor": "bm9wZQ"}),
            "cursor",
        ),
        (
            "list_customer_tickets",
            json!({"customer_id": "CUST-001", "status": "lost"}),
            "lost",
        ),
        (
            "create_support_ticket",
            json!({"customer_id": "CUST-001", "subject": "x", "description": long, "category": "other", "client_token": "t"}),
            "description",
        ),
        (
            "create_support_ticket",
            json!({"customer_id": "CUST-001", "subject": " ", "description": "d", "category": "other", "client_token": "t"}),
            "subject",
        ),
        (
            "create_support_ticket",
            json!({"customer_id": "CUST-001", "subject": "s", "description": "d", "category": "complaint", "client_token": "t"}),
            "complaint",
        ),
        (
            "add_ticket_note",
            json!({"ticket_id": "TKT-0001", "note": ""}),
            "note",
        ),
    ];
    for (tool, arguments, mentions) in cases {
        let message = error_text(&call(&client, tool, arguments.clone()).await);
        assert!(message.contains(mentions), "{tool} {arguments}: {message}");
    }
}

#[tokio::test]
async fn a_cursor_from_another_list_is_refused() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (product_id, _) = most_reviewed_product();
    let page = structured(
        &call(
            &client,
            "list_product_reviews",
            json!({"product_id": product_id, "page_size": 1}),
        )
        .await,
    );
    let cursor = page["next_cursor"].as_str().expect("more than one page");
    let other_product = fixtures::load("reviews")
        .iter()
        .map(|r| text(r, "product_id").to_owned())
        .find(|p| *p != product_id)
        .unwrap();
    let message = error_text(
        &call(
            &client,
            "list_product_reviews",
            json!({"product_id": other_product, "cursor": cursor}),
        )
        .await,
    );
    assert!(message.contains("cursor"), "{message}");
    let message = error_text(
        &call(
            &client,
            "list_customer_reviews",
            json!({"customer_id": "CUST-001", "cursor": cursor}),
        )
        .await,
    );
    assert!(message.contains("cursor"), "{message}");
}

#[tokio::test]
async fn fifty_concurrent_calls_all_answer_correctly() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let warranties = fixtures::load("warranties");
    let calls = warranties.iter().cycle().take(50).map(|warranty| {
        let client = &client;
        async move {
            let got = structured(
                &call(
                    client,
                    "check_warranty",
                    json!({"serial_number": text(warranty, "serial_number")}),
                )
                .await,
            );
            assert_eq!(got["serial_number"], warranty["serial_number"]);
            assert_eq!(got["status"], json!(expected_warranty_status(warranty).0));
        }
    });
    join_all(calls).await;
}
