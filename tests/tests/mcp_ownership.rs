//! Who sees what on the MCP server, called by a real MCP client on the real binary against moto
//! seeded with the shared fixture: reviews are public but never name their author or order;
//! a call naming a customer finds only that customer's tickets and units, and another
//! customer's record gets the very answer of one that does not exist (no existence oracle);
//! a call naming no customer (staff) finds every record.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rmcp::RoleClient;
use rmcp::model::CallToolResult;
use rmcp::service::RunningService;
use serde_json::{Value, json};
use system_tests::fixtures::{self, text};
use system_tests::mcp_server::{call, error_text, seeded_stack, structured, ticket_count};

type Client = RunningService<RoleClient, ()>;

const MISSING_TICKET: &str = "TKT-NOPE-0000";
const MISSING_SERIAL: &str = "SN-NOPE-00000000";

/// Everything a result shows a client: its structured content, its text blocks, and any
/// cursor in it decoded, in case a cursor carries what the items do not.
fn shown(result: &CallToolResult) -> String {
    let mut shown = result
        .structured_content
        .as_ref()
        .map(Value::to_string)
        .unwrap_or_default();
    for block in &result.content {
        if let Some(block) = block.as_text() {
            shown.push('\n');
            shown.push_str(&block.text);
        }
    }
    if let Some(cursor) = result
        .structured_content
        .as_ref()
        .and_then(|content| content.get("next_cursor"))
        .and_then(Value::as_str)
        && let Ok(decoded) = URL_SAFE_NO_PAD.decode(cursor)
    {
        shown.push('\n');
        shown.push_str(&String::from_utf8_lossy(&decoded));
    }
    shown
}

/// An error text with the requested id replaced, so texts for different ids can be compared.
fn with_placeholder(message: &str, id: &str) -> String {
    assert!(
        message.contains(id),
        "the answer names the id asked for: {message}"
    );
    message.replace(id, "<id>")
}

/// The product whose reviews were written by the most customers, and those reviews.
fn product_reviewed_by_several_customers() -> (String, Vec<Value>) {
    let mut by_product: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for review in fixtures::load("reviews") {
        by_product
            .entry(text(&review, "product_id").to_owned())
            .or_default()
            .push(review);
    }
    let (product, reviews) = by_product
        .into_iter()
        .max_by_key(|(_, reviews)| {
            reviews
                .iter()
                .map(|r| text(r, "customer_id"))
                .collect::<HashSet<_>>()
                .len()
        })
        .expect("the fixture has reviews");
    let authors: HashSet<&str> = reviews.iter().map(|r| text(r, "customer_id")).collect();
    assert!(
        authors.len() >= 3,
        "reviews by several customers: {authors:?}"
    );
    (product, reviews)
}

fn assert_anonymous(what: &str, shown: &str, reviews: &[Value]) {
    for field in ["customer_id", "order_id"] {
        assert!(!shown.contains(field), "{what} shows {field}: {shown}");
    }
    for review in reviews {
        for value in [text(review, "customer_id"), text(review, "order_id")] {
            assert!(!shown.contains(value), "{what} shows {value}: {shown}");
        }
    }
}

#[tokio::test]
async fn public_reviews_never_name_their_author_or_order() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (product_id, reviews) = product_reviewed_by_several_customers();

    let tools = client.list_all_tools().await.expect("tools/list");
    for name in ["get_review", "list_product_reviews"] {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        let schema = serde_json::to_string(&tool.output_schema).unwrap();
        assert_anonymous(&format!("{name}'s output schema"), &schema, &[]);
    }

    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut arguments = json!({"product_id": product_id, "page_size": 4});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let result = call(&client, "list_product_reviews", arguments).await;
        let page = structured(&result);
        assert_anonymous("list_product_reviews", &shown(&result), &reviews);
        listed.extend(page["reviews"].as_array().unwrap().iter().cloned());
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(listed.len() <= reviews.len(), "pagination must end");
    }
    assert_eq!(listed.len(), reviews.len(), "every review is listed");

    for review in &reviews {
        let result = call(
            &client,
            "get_review",
            json!({"review_id": text(review, "review_id")}),
        )
        .await;
        let got = structured(&result);
        assert_anonymous("get_review", &shown(&result), &reviews);
        assert_eq!(got["rating"], review["rating"]);
        assert_eq!(got["verified_purchase"], review["verified_purchase"]);
    }
}

#[tokio::test]
async fn a_customer_keeps_the_full_form_of_their_own_reviews() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let reviews = fixtures::load("reviews");
    let customer = text(&reviews[0], "customer_id");
    let expected: BTreeMap<&str, &str> = reviews
        .iter()
        .filter(|r| text(r, "customer_id") == customer)
        .map(|r| (text(r, "review_id"), text(r, "order_id")))
        .collect();
    let page = structured(
        &call(
            &client,
            "list_customer_reviews",
            json!({"customer_id": customer, "page_size": 50}),
        )
        .await,
    );
    let got: BTreeMap<&str, &str> = page["reviews"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["customer_id"], json!(customer), "{r}");
            (text(r, "review_id"), text(r, "order_id"))
        })
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn lookups_take_an_optional_customer_id_like_every_other_tool() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let tools = client.list_all_tools().await.expect("tools/list");
    let schema_of = |name: &str| {
        Value::Object(
            (*tools
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("{name} is listed"))
                .input_schema)
                .clone(),
        )
    };
    let reference = &schema_of("list_customer_tickets")["properties"]["customer_id"];
    for name in ["get_support_ticket", "check_warranty", "add_ticket_note"] {
        let schema = schema_of(name);
        let property = &schema["properties"]["customer_id"];
        let types = &property["type"];
        assert!(
            types == &json!("string") || types == &json!(["string", "null"]),
            "{name}.customer_id is a string: {property}"
        );
        for attribute in ["minLength", "maxLength", "pattern"] {
            assert_eq!(
                property[attribute], reference[attribute],
                "{name}.customer_id {attribute}: {property}"
            );
        }
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        assert!(
            !required.contains(&json!("customer_id")),
            "staff may omit customer_id on {name}: {schema}"
        );
    }
}

/// The error texts of `tool` for customer `a` asking for `others` (a record of someone else)
/// and for `missing` (an id that does not exist), each with its id replaced.
async fn refusals(
    client: &Client,
    tool: &str,
    id_field: &str,
    a: &str,
    others: &str,
    missing: &str,
    extra: &Value,
) -> (String, String) {
    let arguments = |id: &str| {
        let mut arguments = extra.clone();
        arguments[id_field] = json!(id);
        arguments["customer_id"] = json!(a);
        arguments
    };
    let other = error_text(&call(client, tool, arguments(others)).await);
    let absent = error_text(&call(client, tool, arguments(missing)).await);
    (
        with_placeholder(&other, others),
        with_placeholder(&absent, missing),
    )
}

#[tokio::test]
async fn another_customers_ticket_is_answered_exactly_like_a_missing_one() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (own, others) = fixtures::of_two_customers("tickets");
    let a = text(&own, "customer_id");
    let b = text(&others, "customer_id");
    let others_id = text(&others, "ticket_id");

    let (other, absent) = refusals(
        &client,
        "get_support_ticket",
        "ticket_id",
        a,
        others_id,
        MISSING_TICKET,
        &json!({}),
    )
    .await;
    assert_eq!(other, absent, "get_support_ticket");
    assert!(!other.contains(b), "{other}");
    let (note_other, note_absent) = refusals(
        &client,
        "add_ticket_note",
        "ticket_id",
        a,
        others_id,
        MISSING_TICKET,
        &json!({"note": "Written by someone else."}),
    )
    .await;
    assert_eq!(note_other, note_absent, "add_ticket_note");
    assert_eq!(
        note_other, other,
        "add_ticket_note and get_support_ticket answer alike"
    );

    let mine = structured(
        &call(
            &client,
            "get_support_ticket",
            json!({"ticket_id": text(&own, "ticket_id"), "customer_id": a}),
        )
        .await,
    );
    assert_eq!(mine["customer_id"], json!(a));
    assert_eq!(mine["description"], own["description"]);
    let staff = structured(
        &call(
            &client,
            "get_support_ticket",
            json!({"ticket_id": others_id}),
        )
        .await,
    );
    assert_eq!(staff["customer_id"], json!(b));
}

#[tokio::test]
async fn another_customers_unit_is_answered_exactly_like_a_missing_one() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (own, others) = fixtures::of_two_customers("warranties");
    let a = text(&own, "customer_id");
    let b = text(&others, "customer_id");
    let others_serial = text(&others, "serial_number");

    let (other, absent) = refusals(
        &client,
        "check_warranty",
        "serial_number",
        a,
        others_serial,
        MISSING_SERIAL,
        &json!({}),
    )
    .await;
    assert_eq!(other, absent, "check_warranty");
    assert!(!other.contains(b), "{other}");

    let mine = structured(
        &call(
            &client,
            "check_warranty",
            json!({"serial_number": text(&own, "serial_number"), "customer_id": a}),
        )
        .await,
    );
    assert_eq!(mine["customer_id"], json!(a));
    assert_eq!(mine["serial_number"], own["serial_number"]);
    let staff = structured(
        &call(
            &client,
            "check_warranty",
            json!({"serial_number": others_serial}),
        )
        .await,
    );
    assert_eq!(staff["customer_id"], json!(b));
}

#[tokio::test]
async fn a_ticket_may_name_only_its_customers_own_unit() {
    let (moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (own, others) = fixtures::of_two_customers("warranties");
    let a = text(&own, "customer_id");
    let request = json!({
        "subject": "Unit stopped working",
        "description": "It no longer turns on.",
        "category": "warranty",
    });

    let with_serial = |serial: &str, token: &str| {
        let mut arguments = request.clone();
        arguments["customer_id"] = json!(a);
        arguments["serial_number"] = json!(serial);
        arguments["client_token"] = json!(token);
        arguments
    };
    let other = error_text(
        &call(
            &client,
            "create_support_ticket",
            with_serial(text(&others, "serial_number"), "other-unit"),
        )
        .await,
    );
    let absent = error_text(
        &call(
            &client,
            "create_support_ticket",
            with_serial(MISSING_SERIAL, "missing-unit"),
        )
        .await,
    );
    assert_eq!(
        with_placeholder(&other, text(&others, "serial_number")),
        with_placeholder(&absent, MISSING_SERIAL)
    );
    assert_eq!(
        ticket_count(&moto).await.unwrap(),
        fixtures::load("tickets").len(),
        "no ticket was opened for a unit that is not the customer's"
    );

    let created = structured(
        &call(
            &client,
            "create_support_ticket",
            with_serial(text(&own, "serial_number"), "own-unit"),
        )
        .await,
    );
    assert_eq!(created["created"], json!(true));
    assert_eq!(created["ticket"]["serial_number"], own["serial_number"]);
    assert_eq!(created["ticket"]["customer_id"], json!(a));
}

#[tokio::test]
async fn a_note_on_another_customers_ticket_writes_nothing_even_when_it_is_full() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let client = server.client().await.unwrap();
    let (own, others) = fixtures::of_two_customers("tickets");
    let a = text(&own, "customer_id");
    let b = text(&others, "customer_id");
    let ticket_id = text(&others, "ticket_id");
    let read_as_staff = || async {
        structured(
            &call(
                &client,
                "get_support_ticket",
                json!({"ticket_id": ticket_id}),
            )
            .await,
        )
    };

    let before = read_as_staff().await;
    let refused = call(
        &client,
        "add_ticket_note",
        json!({"ticket_id": ticket_id, "customer_id": a, "note": "Not mine."}),
    )
    .await;
    error_text(&refused);
    assert_eq!(
        read_as_staff().await,
        before,
        "the other customer's ticket is unchanged"
    );

    // A full ticket refuses notes for a reason only its owner may learn.
    let notes = before["notes"].as_array().unwrap().len();
    for n in notes..100 {
        structured(
            &call(
                &client,
                "add_ticket_note",
                json!({"ticket_id": ticket_id, "customer_id": b, "note": format!("Note {n}.")}),
            )
            .await,
        );
    }
    let full = read_as_staff().await;
    assert_eq!(full["notes"].as_array().unwrap().len(), 100);
    let owners = error_text(
        &call(
            &client,
            "add_ticket_note",
            json!({"ticket_id": ticket_id, "customer_id": b, "note": "One more."}),
        )
        .await,
    );
    assert!(owners.contains("maximum"), "{owners}");
    let (other, absent) = refusals(
        &client,
        "add_ticket_note",
        "ticket_id",
        a,
        ticket_id,
        MISSING_TICKET,
        &json!({"note": "Not mine either."}),
    )
    .await;
    assert_eq!(other, absent, "a full ticket of someone else is not found");
    assert_eq!(read_as_staff().await, full);
}
