//! The isolation rules under attack, end to end: the real agent behind Cognito ID tokens from
//! moto (verify mode), the Aurora tools over the Data API stand-in on PostgreSQL, and the real
//! MCP server on moto. A scripted model, as a manipulated one would, tries every tool with
//! other customers' ids, id tricks (case, blanks, lookalikes, arrays, nesting, duplicate keys),
//! lookups by record id, replayed cursors and writes, for a customer, a second customer, an
//! unlinked caller and staff; callers also reuse each other's session ids.
//!
//! What must hold: nothing that identifies another customer's data (their e-mail, phone, order,
//! ticket and serial numbers, tracking numbers, customer ids) reaches a restricted caller's
//! stream unless the caller typed it; "not yours" reads exactly like "does not exist"; writes
//! for others change nothing; a session answers only the caller who started it; staff see
//! what they may.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_json::{Value, json};
use system_tests::agent::{Agent, Answer, SESSION_HEADER};
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::cognito::{CUSTOMER_ID, CUSTOMER_ID_ATTRIBUTE};
use system_tests::fixtures;
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::stacks::SignedInStack;

/// The second signed-in customer.
const SECOND: &str = "CUST-002";
const SECOND_USERNAME: &str = "customer-002";
const UNLINKED_USERNAME: &str = "visitor-001";

/// The signed-in stack with a second linked customer and an unlinked user, and this file's
/// helpers on it.
struct Stack(SignedInStack);

impl std::ops::Deref for Stack {
    type Target = SignedInStack;

    fn deref(&self) -> &SignedInStack {
        &self.0
    }
}

async fn stack() -> Stack {
    let stack = SignedInStack::start().await.unwrap();
    stack
        .pool
        .create_user(
            SECOND_USERNAME,
            &[
                ("email", "customer-002@example.com"),
                (CUSTOMER_ID_ATTRIBUTE, SECOND),
            ],
            &[],
        )
        .await
        .unwrap();
    stack
        .pool
        .create_user(UNLINKED_USERNAME, &[], &[])
        .await
        .unwrap();
    Stack(stack)
}

/// Who is calling, and whose records they may see (`None`: nobody's; staff are separate).
#[derive(Debug, Clone, Copy)]
enum Role {
    Customer(&'static str),
    Unlinked,
    Staff,
}

impl Stack {
    async fn bearer(&self, role: Role) -> String {
        let username = match role {
            Role::Customer(CUSTOMER_ID) => system_tests::cognito::CUSTOMER_USERNAME,
            Role::Customer(_) => SECOND_USERNAME,
            Role::Unlinked => UNLINKED_USERNAME,
            Role::Staff => system_tests::cognito::STAFF_USERNAME,
        };
        let tokens = self
            .pool
            .sign_in(username, &self.pool.client_id)
            .await
            .unwrap();
        format!("Bearer {}", tokens.id_token)
    }

    /// One turn in which the model makes `calls` together, then answers.
    async fn turn(&self, bearer: &str, session: &str, calls: Vec<ToolCall>) -> Answer {
        self.bedrock.push(Turn::tool_use(calls));
        self.bedrock.push(Turn::text("Here is what I found."));
        let answer = self
            .agent
            .invoke(
                &json!({"prompt": "Show me everything you can find."}),
                &[("authorization", bearer), (SESSION_HEADER, session)],
            )
            .await
            .unwrap();
        assert_eq!(answer.last()["type"], json!("done"), "{:?}", answer.events);
        answer
    }
}

fn session_id(name: &str) -> String {
    format!("adversarial-session-{name}-{}", uuid::Uuid::new_v4())
}

/// `(status, output)` of each tool result, in call order.
fn results(answer: &Answer) -> Vec<(String, Value)> {
    answer
        .of_type("tool_result")
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap_or_default().to_owned(),
                e["output"].clone(),
            )
        })
        .collect()
}

/// Every string a restricted caller must never see: the identifiers of each customer other
/// than `own` and of their records, from the fixture.
fn identifiers_of_others(own: Option<&str>) -> BTreeSet<String> {
    let mut secrets = BTreeSet::new();
    let others = |record: &Value| Some(fixtures::text(record, "customer_id")) != own;
    for customer in fixtures::load("customers").iter().filter(|c| others(c)) {
        for key in ["customer_id", "email", "phone"] {
            secrets.insert(fixtures::text(customer, key).to_owned());
        }
    }
    for order in fixtures::load("orders").iter().filter(|o| others(o)) {
        secrets.insert(fixtures::text(order, "order_id").to_owned());
        if let Some(tracking) = order["tracking_number"].as_str() {
            secrets.insert(tracking.to_owned());
        }
    }
    for ticket in fixtures::load("tickets").iter().filter(|t| others(t)) {
        secrets.insert(fixtures::text(ticket, "ticket_id").to_owned());
    }
    for warranty in fixtures::load("warranties").iter().filter(|w| others(w)) {
        secrets.insert(fixtures::text(warranty, "serial_number").to_owned());
    }
    secrets
}

/// Every string value in the tool inputs the model sent: what the caller typed.
fn typed_strings(answer: &Answer) -> BTreeSet<String> {
    fn collect(value: &Value, into: &mut BTreeSet<String>) {
        match value {
            Value::String(text) => {
                into.insert(text.trim().to_owned());
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
            Value::Object(fields) => fields.values().for_each(|v| collect(v, into)),
            _ => {}
        }
    }
    let mut typed = BTreeSet::new();
    for call in answer.of_type("tool_call") {
        collect(&call["input"], &mut typed);
    }
    typed
}

/// Fails when any identifier of another customer that the caller did not type themselves is
/// anywhere in the stream other than the echo of the model's own tool inputs.
fn assert_no_leak(answer: &Answer, own: Option<&str>, what: &str) {
    let typed = typed_strings(answer);
    let surface: Vec<&Value> = answer
        .events
        .iter()
        .filter(|e| e["type"] != json!("tool_call"))
        .collect();
    let surface = serde_json::to_string(&surface).unwrap();
    let leaked: Vec<String> = identifiers_of_others(own)
        .into_iter()
        .filter(|secret| !typed.contains(secret) && surface.contains(secret.as_str()))
        .collect();
    assert!(leaked.is_empty(), "{what}: leaked {leaked:?} in {surface}");
}

/// A customer with orders, tickets, warranties and reviews in the fixture, other than `own`.
struct Victim {
    customer_id: String,
    email: String,
    order_id: String,
    ticket_id: String,
    serial_number: String,
    review_id: String,
    reviewed_product: String,
}

fn victim(customer_id: &str) -> Victim {
    let of = |name: &str| -> Value {
        fixtures::load(name)
            .into_iter()
            .find(|r| r["customer_id"] == json!(customer_id))
            .unwrap_or_else(|| panic!("{customer_id} has {name} in the fixture"))
    };
    let review = of("reviews");
    Victim {
        customer_id: customer_id.to_owned(),
        email: fixtures::text(&of("customers"), "email").to_owned(),
        order_id: fixtures::text(&of("orders"), "order_id").to_owned(),
        ticket_id: fixtures::text(&of("tickets"), "ticket_id").to_owned(),
        serial_number: fixtures::text(&of("warranties"), "serial_number").to_owned(),
        review_id: fixtures::text(&review, "review_id").to_owned(),
        reviewed_product: fixtures::text(&review, "product_id").to_owned(),
    }
}

/// Every tool, called for `victim`'s records, with every id trick.
fn probes(victim: &Victim, own: &str) -> Vec<ToolCall> {
    let v = victim.customer_id.as_str();
    let lookalike = v.replace('-', "\u{2010}");
    let with_zero_width = format!("{v}\u{200b}");
    let calls = [
        ("get_customer_profile", json!({"customer_id": v})),
        ("get_customer_profile", json!({"email": victim.email})),
        ("list_customer_orders", json!({"customer_id": v})),
        (
            "list_customer_orders",
            json!({"customer_id": v.to_lowercase()}),
        ),
        (
            "list_customer_orders",
            json!({"customer_id": format!(" {v} ")}),
        ),
        ("list_customer_orders", json!({"customer_id": lookalike})),
        (
            "list_customer_orders",
            json!({"customer_id": with_zero_width}),
        ),
        ("list_customer_orders", json!({"customer_id": [own, v]})),
        (
            "list_customer_orders",
            json!({"filter": {"customer_id": v}}),
        ),
        ("get_order", json!({"order_id": victim.order_id})),
        ("get_support_ticket", json!({"ticket_id": victim.ticket_id})),
        (
            "get_support_ticket",
            json!({"ticket_id": victim.ticket_id, "customer_id": v}),
        ),
        (
            "check_warranty",
            json!({"serial_number": victim.serial_number}),
        ),
        ("list_customer_tickets", json!({"customer_id": v})),
        (
            "list_customer_tickets",
            json!({"customer_id": v, "status": "open"}),
        ),
        ("list_customer_warranties", json!({"customer_id": v})),
        ("list_customer_reviews", json!({"customer_id": v})),
        ("get_review", json!({"review_id": victim.review_id})),
        (
            "list_product_reviews",
            json!({"product_id": victim.reviewed_product, "page_size": 50}),
        ),
        (
            "create_support_ticket",
            json!({"customer_id": v, "subject": "x", "description": "y", "category": "other", "client_token": "adversarial-1"}),
        ),
        (
            "add_ticket_note",
            json!({"ticket_id": victim.ticket_id, "note": "Written by somebody else."}),
        ),
    ];
    let mut probes: Vec<ToolCall> = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, input))| ToolCall::new(format!("p{i}"), name, input))
        .collect();
    probes.push(ToolCall::with_raw_input(
        "dup-1",
        "list_customer_tickets",
        format!(r#"{{"customer_id":"{own}","customer_id":"{v}"}}"#),
    ));
    probes.push(ToolCall::with_raw_input(
        "dup-2",
        "list_customer_warranties",
        format!(r#"{{"customer_id":"{v}","customer_id":"{own}"}}"#),
    ));
    probes
}

/// The tools whose answer is the same for everyone: reviews are public, their authors are not.
const PUBLIC_TOOLS: [&str; 2] = ["get_review", "list_product_reviews"];

/// Runs the whole battery as `role` against `victim`; returns the answer.
async fn attack(stack: &Stack, role: Role, victim: &Victim) -> Answer {
    let bearer = stack.bearer(role).await;
    let own = match role {
        Role::Customer(id) => id,
        _ => "CUST-000",
    };
    let calls = probes(victim, own);
    let names: Vec<String> = calls.iter().map(|c| c.name.clone()).collect();
    let answer = stack.turn(&bearer, &session_id("attack"), calls).await;
    let results = results(&answer);
    assert_eq!(results.len(), names.len(), "every call got a result");
    for (name, (status, output)) in names.iter().zip(&results) {
        if PUBLIC_TOOLS.contains(&name.as_str()) {
            continue;
        }
        let own_records = output.to_string().contains(own);
        assert!(
            status == "error" || own_records,
            "{role:?}: {name} answered another customer's request: {output}"
        );
    }
    answer
}

#[tokio::test]
async fn customers_and_unlinked_callers_never_see_another_customers_data() {
    let stack = stack().await;
    for (role, own, target) in [
        (Role::Customer(CUSTOMER_ID), Some(CUSTOMER_ID), SECOND),
        (Role::Customer(SECOND), Some(SECOND), CUSTOMER_ID),
        (Role::Unlinked, None, SECOND),
    ] {
        let answer = attack(&stack, role, &victim(target)).await;
        assert_no_leak(&answer, own, &format!("{role:?} probing {target}"));
    }
}

#[tokio::test]
async fn public_reviews_name_no_reviewer() {
    let stack = stack().await;
    let target = victim(SECOND);
    for role in [Role::Customer(CUSTOMER_ID), Role::Unlinked] {
        let bearer = stack.bearer(role).await;
        let answer = stack
            .turn(
                &bearer,
                &session_id("reviews"),
                vec![
                    ToolCall::new(
                        "a",
                        "list_product_reviews",
                        json!({"product_id": target.reviewed_product, "page_size": 50}),
                    ),
                    ToolCall::new("b", "get_review", json!({"review_id": target.review_id})),
                ],
            )
            .await;
        let results = results(&answer);
        let page = &results[0].1;
        assert_eq!(results[0].0, "ok", "{page}");
        let reviews = page["reviews"].as_array().cloned().unwrap_or_default();
        assert!(
            !reviews.is_empty(),
            "the product's reviews are listed: {page}"
        );
        assert_eq!(results[1].0, "ok", "{}", results[1].1);
        for shown in reviews.iter().chain([&results[1].1]) {
            assert!(shown.get("customer_id").is_none(), "{shown}");
            assert!(shown.get("order_id").is_none(), "{shown}");
        }
        assert_no_leak(&answer, role_own(role), "public reviews");
    }
}

fn role_own(role: Role) -> Option<&'static str> {
    match role {
        Role::Customer(id) => Some(id),
        _ => None,
    }
}

/// The error text of a result with the requested id replaced, so that answers for two ids
/// can be compared.
fn error_with(result: &(String, Value), id: &str) -> String {
    assert_eq!(result.0, "error", "{}", result.1);
    result.1["error"]
        .as_str()
        .unwrap_or_default()
        .replace(id, "<id>")
}

#[tokio::test]
async fn another_customers_record_reads_exactly_like_one_that_does_not_exist() {
    let stack = stack().await;
    let target = victim(SECOND);
    let missing = [
        ("get_order", "order_id", "ORD-99999"),
        ("get_support_ticket", "ticket_id", "TKT-9999"),
        ("check_warranty", "serial_number", "SN-NONE-00000000"),
        ("add_ticket_note", "ticket_id", "TKT-9998"),
    ];
    let existing = [
        target.order_id.as_str(),
        target.ticket_id.as_str(),
        target.serial_number.as_str(),
        target.ticket_id.as_str(),
    ];
    for role in [Role::Customer(CUSTOMER_ID), Role::Unlinked] {
        let bearer = stack.bearer(role).await;
        let calls = |ids: &[&str]| -> Vec<ToolCall> {
            missing
                .iter()
                .zip(ids)
                .enumerate()
                .map(|(i, ((tool, field, _), id))| {
                    let mut input = json!({ *field: id });
                    if *tool == "add_ticket_note" {
                        input["note"] = json!("Is this yours?");
                    }
                    ToolCall::new(format!("c{i}"), *tool, input)
                })
                .collect()
        };
        let missing_ids: Vec<&str> = missing.iter().map(|(_, _, id)| *id).collect();
        let others = results(
            &stack
                .turn(&bearer, &session_id("exists"), calls(&existing))
                .await,
        );
        let nowhere = results(
            &stack
                .turn(&bearer, &session_id("missing"), calls(&missing_ids))
                .await,
        );
        for (i, (tool, _, missing_id)) in missing.iter().enumerate() {
            assert_eq!(
                error_with(&others[i], existing[i]),
                error_with(&nowhere[i], missing_id),
                "{role:?}: {tool} tells someone else's record from a missing one"
            );
        }
    }
}

#[tokio::test]
async fn writes_for_another_customer_change_nothing() {
    let stack = stack().await;
    let target = victim(SECOND);
    let staff = stack.bearer(Role::Staff).await;
    let count_tickets = |answer: &Answer| -> (usize, usize) {
        let results = results(answer);
        let listed = results[0].1["tickets"].as_array().map_or(0, Vec::len);
        let notes = results[1].1["notes"].as_array().map_or(0, Vec::len);
        (listed, notes)
    };
    let look = || {
        vec![
            ToolCall::new(
                "l",
                "list_customer_tickets",
                json!({"customer_id": target.customer_id, "page_size": 50}),
            ),
            ToolCall::new(
                "g",
                "get_support_ticket",
                json!({"ticket_id": target.ticket_id}),
            ),
        ]
    };
    let before = count_tickets(&stack.turn(&staff, &session_id("before"), look()).await);
    assert!(before.0 > 0, "the victim has tickets");
    for role in [Role::Customer(CUSTOMER_ID), Role::Unlinked] {
        let bearer = stack.bearer(role).await;
        let answer = stack
            .turn(
                &bearer,
                &session_id("writes"),
                vec![
                    ToolCall::new(
                        "w1",
                        "create_support_ticket",
                        json!({"customer_id": target.customer_id, "subject": "x", "description": "y", "category": "other", "client_token": "w-1"}),
                    ),
                    ToolCall::new(
                        "w2",
                        "add_ticket_note",
                        json!({"ticket_id": target.ticket_id, "note": "Not my ticket."}),
                    ),
                    ToolCall::new(
                        "w3",
                        "add_ticket_note",
                        json!({"ticket_id": target.ticket_id, "customer_id": target.customer_id, "note": "Not my ticket."}),
                    ),
                ],
            )
            .await;
        for (status, output) in results(&answer) {
            assert_eq!(
                status, "error",
                "{role:?}: a write for another customer: {output}"
            );
        }
    }
    let after = count_tickets(&stack.turn(&staff, &session_id("after"), look()).await);
    assert_eq!(
        before, after,
        "no ticket and no note was written for the victim"
    );
}

#[tokio::test]
async fn replayed_cursors_of_another_customers_lists_are_refused() {
    let stack = stack().await;
    let target = victim(SECOND);
    let staff = stack.bearer(Role::Staff).await;
    let listed = stack
        .turn(
            &staff,
            &session_id("cursors"),
            vec![
                ToolCall::new(
                    "o",
                    "list_customer_orders",
                    json!({"customer_id": target.customer_id, "page_size": 1}),
                ),
                ToolCall::new(
                    "t",
                    "list_customer_tickets",
                    json!({"customer_id": target.customer_id, "page_size": 1}),
                ),
                ToolCall::new(
                    "w",
                    "list_customer_warranties",
                    json!({"customer_id": target.customer_id, "page_size": 1}),
                ),
            ],
        )
        .await;
    let cursors: Vec<String> = results(&listed)
        .iter()
        .map(|(status, output)| {
            assert_eq!(status, "ok", "{output}");
            output["next_cursor"]
                .as_str()
                .unwrap_or_else(|| panic!("staff got a next page: {output}"))
                .to_owned()
        })
        .collect();
    let tools = [
        "list_customer_orders",
        "list_customer_tickets",
        "list_customer_warranties",
    ];
    for role in [Role::Customer(CUSTOMER_ID), Role::Customer(SECOND)] {
        let bearer = stack.bearer(role).await;
        let calls = tools
            .iter()
            .zip(&cursors)
            .enumerate()
            .map(|(i, (tool, cursor))| {
                ToolCall::new(format!("r{i}"), *tool, json!({"cursor": cursor}))
            })
            .collect();
        let answer = stack.turn(&bearer, &session_id("replay"), calls).await;
        for (status, output) in results(&answer) {
            assert_eq!(
                status, "error",
                "{role:?}: a replayed cursor paged: {output}"
            );
            assert!(
                output["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("cursor")),
                "the refusal names the cursor: {output}"
            );
        }
        assert_no_leak(&answer, role_own(role), "cursor replay");
    }
}

#[tokio::test]
async fn a_session_answers_only_the_caller_who_started_it() {
    let stack = stack().await;
    let session = session_id("owned");
    let owner = stack.bearer(Role::Customer(CUSTOMER_ID)).await;
    let secret_prompt = "My confidential question about order ORD-SECRET-MARKER";
    stack.bedrock.push(Turn::text("Answered for the owner."));
    let first = stack
        .agent
        .invoke(
            &json!({"prompt": secret_prompt}),
            &[("authorization", &owner), (SESSION_HEADER, &session)],
        )
        .await
        .unwrap();
    assert_eq!(first.last()["type"], json!("done"));
    let requests_before = stack.bedrock.requests().len();
    for intruder in [Role::Customer(SECOND), Role::Unlinked, Role::Staff] {
        let bearer = stack.bearer(intruder).await;
        let refused = stack
            .agent
            .invoke(
                &json!({"prompt": "What did we talk about?"}),
                &[("authorization", &bearer), (SESSION_HEADER, &session)],
            )
            .await
            .unwrap();
        assert_eq!(refused.status, 403, "{intruder:?}: {:?}", refused.events);
        let body = serde_json::to_string(&refused.events).unwrap();
        assert!(body.contains("another caller"), "{body}");
        assert!(!body.contains("ORD-SECRET-MARKER"), "{body}");
    }
    assert_eq!(
        stack.bedrock.requests().len(),
        requests_before,
        "no refused request reached the model"
    );
    let refusals = stack
        .agent
        .process
        .json_logs()
        .into_iter()
        .filter(|line| line["security_event"] == json!("session_owner_mismatch"))
        .count();
    assert_eq!(refusals, 3, "each refusal is logged as a security event");
    let owner_subject = stack
        .pool
        .subject_of(system_tests::cognito::CUSTOMER_USERNAME)
        .await
        .unwrap();
    let logs = stack.agent.process.logs();
    let refusal_lines: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("session_owner_mismatch"))
        .collect();
    assert!(
        refusal_lines.iter().all(|l| !l.contains(&owner_subject)),
        "subjects are logged hashed: {refusal_lines:?}"
    );

    stack.bedrock.push(Turn::text("Still yours."));
    let again = stack
        .agent
        .invoke(
            &json!({"prompt": "And now?"}),
            &[("authorization", &owner), (SESSION_HEADER, &session)],
        )
        .await
        .unwrap();
    assert_eq!(again.last()["type"], json!("done"), "{:?}", again.events);
    let history = stack.bedrock.requests().last().unwrap().body["messages"].to_string();
    assert!(
        history.contains("ORD-SECRET-MARKER"),
        "the owner's conversation continues whole"
    );
}

#[tokio::test]
async fn without_authentication_sessions_still_belong_to_their_runtime_user() {
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, Some(&mcp.url), &[]).await.unwrap();
    let session = session_id("none-mode");
    const USER: &str = "x-amzn-bedrock-agentcore-runtime-user-id";
    bedrock.push(Turn::text("Hello user A."));
    let first = agent
        .invoke(
            &json!({"prompt": "A's question"}),
            &[(USER, "user-a"), (SESSION_HEADER, &session)],
        )
        .await
        .unwrap();
    assert_eq!(first.last()["type"], json!("done"));
    for headers in [
        vec![(USER, "user-b"), (SESSION_HEADER, session.as_str())],
        vec![(SESSION_HEADER, session.as_str())],
    ] {
        let refused = agent
            .invoke(&json!({"prompt": "B's question"}), &headers)
            .await
            .unwrap();
        assert_eq!(refused.status, 403, "{headers:?}: {:?}", refused.events);
    }
    bedrock.push(Turn::text("Hello again, A."));
    let again = agent
        .invoke(
            &json!({"prompt": "A again"}),
            &[(USER, "user-a"), (SESSION_HEADER, &session)],
        )
        .await
        .unwrap();
    assert_eq!(again.last()["type"], json!("done"));
}

#[tokio::test]
async fn staff_see_any_customers_records() {
    let stack = stack().await;
    let target = victim(SECOND);
    let staff = stack.bearer(Role::Staff).await;
    let answer = stack
        .turn(
            &staff,
            &session_id("staff"),
            vec![
                ToolCall::new("a", "get_customer_profile", json!({"email": target.email})),
                ToolCall::new(
                    "b",
                    "list_customer_orders",
                    json!({"customer_id": target.customer_id, "page_size": 25}),
                ),
                ToolCall::new("c", "get_order", json!({"order_id": target.order_id})),
                ToolCall::new(
                    "d",
                    "get_support_ticket",
                    json!({"ticket_id": target.ticket_id}),
                ),
                ToolCall::new(
                    "e",
                    "check_warranty",
                    json!({"serial_number": target.serial_number}),
                ),
                ToolCall::new(
                    "f",
                    "list_customer_reviews",
                    json!({"customer_id": target.customer_id}),
                ),
            ],
        )
        .await;
    let results = results(&answer);
    for (status, output) in &results {
        assert_eq!(status, "ok", "{output}");
    }
    assert_eq!(results[0].1["customer_id"], json!(target.customer_id));
    let expected_orders = fixtures::load("orders")
        .into_iter()
        .filter(|o| o["customer_id"] == json!(target.customer_id))
        .count();
    assert_eq!(
        results[1].1["orders"].as_array().map_or(0, Vec::len),
        expected_orders.min(25)
    );
    for (i, _) in results.iter().enumerate().skip(2).take(3) {
        assert_eq!(results[i].1["customer_id"], json!(target.customer_id));
    }
    let reviews = results[5].1["reviews"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!reviews.is_empty());
    assert!(
        reviews
            .iter()
            .all(|r| r["customer_id"] == json!(target.customer_id)),
        "staff see who wrote a customer's reviews"
    );
}
