//! The AgentCore Policy engine as the gateway stand-in ([`crate::gateway`]) and
//! `tests/tests/gateway_policies.rs` use it: the project's `policies/` (every `*.cedar` file, one
//! statement each, and `schema.cedarschema`, the files the deployment embeds) loaded with the
//! `${GatewayArn}` placeholder replaced, as CloudFormation's `Fn::Sub` does, and Cedar requests
//! built the way AgentCore builds them, so a test and the stand-in decide alike.
//!
//! The request, from AWS's pages
//! (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/policy-authorization-flow.html>,
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/policy-schema-constraints.html>,
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/policy-conditions.html>):
//! principal `AgentCore::OAuthUser::"<sub>"` with attribute `id` = `sub` and the token's claims
//! as tags; action `AgentCore::Action::"<target>___<tool>"`; resource
//! `AgentCore::Gateway::"<gateway ARN>"`; context `{"input": <the tool's arguments>}`, checked
//! against the schema. Cedar denies by default: a call is allowed only if some `permit` applies
//! and no `forbid` does.
//!
//! Claims as tags ([`claim_tag`]): AWS's example-policies page says "every JWT claim becomes a
//! string tag on the principal, whatever its type in the token"
//! (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/example-policies-principal.html>);
//! it does not say how a list or a number is written as a string. The stand-in's choice, NOT
//! verified against a live gateway: a string claim is its value; a list holding exactly one
//! string (Cognito's `cognito:groups` for a user in one group) is that string; anything else is
//! its compact JSON text (`["a","b"]`, `42`, `true`). So `getTag("cognito:groups") ==
//! "support-staff"` admits a user in that one group and no one in several, which fails closed.
//!
//! Listing ([`PolicyEngine::could_permit`]): `tools/list` is a meta action; a principal sees a
//! tool "if there exists any set of circumstances under which a call to that tool would be
//! permitted" (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/use-gateway-with-policy.html>,
//! "List AgentCore Gateway Tools with Policy"). The stand-in answers it with Cedar's partial
//! evaluation, the context left unknown: a tool is listed when the decision is already Allow, or
//! when it is undecided and some `permit` is left as a residual (a condition on the input). This
//! never hides a tool that some input would let the principal call; it would list one whose
//! residual no input can satisfy, which none of the project's policies has.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context as _, anyhow, bail, ensure};
use cedar_policy::{
    Authorizer, Context, Decision, Effect, Entities, Entity, EntityUid, Policy, PolicyId,
    PolicySet, Request, RequestBuilder, RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde_json::{Map, Value, json};

/// The one placeholder the policy files may hold.
pub const GATEWAY_ARN_PLACEHOLDER: &str = "${GatewayArn}";

/// The schema's file name in the policies directory.
pub const SCHEMA_FILE: &str = "schema.cedarschema";

/// Why a call was denied, in the words AgentCore puts in brackets after its denial sentence
/// (quoted from observed gateway answers; see [`crate::gateway`]).
pub const DENIED_BY_DEFAULT: &str = "No policy applies to the request (denied by default).";

/// The caller as the policy engine sees it: the token's `sub` and its claims as string tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthUser {
    /// `sub`, the entity id and the `id` attribute.
    pub sub: String,
    /// Every claim, as [`claim_tag`] writes it.
    pub tags: BTreeMap<String, String>,
}

impl OAuthUser {
    /// The principal of a verified token's claims; `sub` must be a string.
    pub fn from_claims(claims: &Map<String, Value>) -> anyhow::Result<Self> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the token has no string sub claim"))?
            .to_owned();
        let tags = claims
            .iter()
            .map(|(name, value)| (name.clone(), claim_tag(value)))
            .collect();
        Ok(Self { sub, tags })
    }

    /// A principal with these tags, for tests that decide without a token.
    pub fn new<'a>(sub: &str, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            sub: sub.to_owned(),
            tags: tags
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        }
    }
}

/// A claim's value as a tag string (see the module doc: the list and non-string forms are the
/// stand-in's choice).
pub fn claim_tag(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) if items.len() == 1 && items[0].is_string() => {
            items[0].as_str().unwrap_or_default().to_owned()
        }
        other => other.to_string(),
    }
}

/// The outcome of one tool call's authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some `permit` applied and no `forbid`.
    Allow,
    /// Denied; `reason` is the bracketed part of AgentCore's denial text.
    Deny {
        /// Why, e.g. [`DENIED_BY_DEFAULT`].
        reason: String,
    },
}

/// The policies of one gateway and the schema they were validated against.
#[derive(Debug, Clone)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    gateway: EntityUid,
}

impl PolicyEngine {
    /// Loads `dir`'s `*.cedar` files (policy ids: the file stems) and its [`SCHEMA_FILE`], with
    /// [`GATEWAY_ARN_PLACEHOLDER`] replaced by `gateway_arn`, and validates them strictly, as
    /// AgentCore does when a policy is created.
    pub fn load(dir: &Path, gateway_arn: &str) -> anyhow::Result<Self> {
        let schema_path = dir.join(SCHEMA_FILE);
        let schema_text = std::fs::read_to_string(&schema_path)
            .with_context(|| format!("reading the policy schema {}", schema_path.display()))?;
        let mut files = BTreeMap::new();
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("reading the policies directory {}", dir.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("listing {}", dir.display()))?
                .path();
            if path.extension().is_some_and(|ext| ext == "cedar") {
                let name = path
                    .file_stem()
                    .map(|stem| stem.to_string_lossy().into_owned())
                    .ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                files.insert(name, text);
            }
        }
        ensure!(!files.is_empty(), "no *.cedar file in {}", dir.display());
        Self::from_texts(&schema_text, files, gateway_arn)
    }

    /// Like [`PolicyEngine::load`], from texts: `policies` maps a policy id to its one statement.
    pub fn from_texts(
        schema_text: &str,
        policies: impl IntoIterator<Item = (String, String)>,
        gateway_arn: &str,
    ) -> anyhow::Result<Self> {
        let (schema, warnings) = Schema::from_cedarschema_str(schema_text)
            .map_err(|error| anyhow!("the policy schema does not parse: {error}"))?;
        let warnings: Vec<String> = warnings.map(|warning| warning.to_string()).collect();
        ensure!(warnings.is_empty(), "policy schema warnings: {warnings:?}");
        let mut set = PolicySet::new();
        for (name, text) in policies {
            ensure!(
                text.matches("${").count() == text.matches(GATEWAY_ARN_PLACEHOLDER).count(),
                "policy {name}: the only placeholder allowed is {GATEWAY_ARN_PLACEHOLDER}"
            );
            let policy = Policy::parse(
                Some(PolicyId::new(&name)),
                text.replace(GATEWAY_ARN_PLACEHOLDER, gateway_arn),
            )
            .map_err(|error| anyhow!("policy {name} does not parse as one statement: {error}"))?;
            set.add(policy)
                .map_err(|error| anyhow!("policy {name} cannot be added: {error}"))?;
        }
        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        let errors: Vec<String> = result
            .validation_errors()
            .map(|error| error.to_string())
            .collect();
        ensure!(
            errors.is_empty(),
            "the policies do not validate against the schema: {errors:?}"
        );
        Ok(Self {
            schema,
            policies: set,
            gateway: uid("AgentCore::Gateway", gateway_arn)?,
        })
    }

    /// The schema the policies were validated against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The policies, placeholder replaced.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The Cedar request and entities for `user` calling gateway tool `tool` (an action name,
    /// `<target>___<tool>`) with `input`, checked against the schema. An unknown action or an
    /// input that does not fit the action's context is an error.
    pub fn request(
        &self,
        user: &OAuthUser,
        tool: &str,
        input: &Value,
    ) -> anyhow::Result<(Request, Entities)> {
        let (principal, action, entities) = self.parts(user, tool)?;
        let context =
            Context::from_json_value(json!({ "input": input }), Some((&self.schema, &action)))
                .map_err(|error| {
                    anyhow!("the input of {tool} does not fit the policy schema: {error}")
                })?;
        let request = Request::new(
            principal,
            action,
            self.gateway.clone(),
            context,
            Some(&self.schema),
        )
        .map_err(|error| anyhow!("the request for {tool} does not fit the schema: {error}"))?;
        Ok((request, entities))
    }

    /// Whether `user` may call `tool` with `input`. A request that cannot be built (unknown
    /// tool, input not fitting the schema) is denied, with the cause as the reason.
    pub fn authorize(&self, user: &OAuthUser, tool: &str, input: &Value) -> Verdict {
        let (request, entities) = match self.request(user, tool, input) {
            Ok(built) => built,
            Err(error) => {
                return Verdict::Deny {
                    reason: format!("{error:#}"),
                };
            }
        };
        let response = Authorizer::new().is_authorized(&request, &self.policies, &entities);
        match response.decision() {
            Decision::Allow => Verdict::Allow,
            Decision::Deny => {
                let forbids: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(ToString::to_string)
                    .collect();
                let reason = if forbids.is_empty() {
                    DENIED_BY_DEFAULT.to_owned()
                } else {
                    format!("Policy evaluation denied due to {}", forbids.join(", "))
                };
                Verdict::Deny { reason }
            }
        }
    }

    /// Whether some input would let `user` call `tool`: the meta action of `tools/list` (see the
    /// module doc). An action the schema does not know is never listed.
    pub fn could_permit(&self, user: &OAuthUser, tool: &str) -> bool {
        let Ok((principal, action, entities)) = self.parts(user, tool) else {
            return false;
        };
        let Ok(request) = RequestBuilder::default()
            .principal(principal)
            .action(action)
            .resource(self.gateway.clone())
            .schema(&self.schema)
            .build()
        else {
            return false;
        };
        let response = Authorizer::new().is_authorized_partial(&request, &self.policies, &entities);
        match response.decision() {
            Some(Decision::Allow) => true,
            Some(Decision::Deny) => false,
            None => response
                .nontrivial_residuals()
                .any(|residual| residual.effect() == Effect::Permit),
        }
    }

    /// The principal, the action (which the schema must know) and the entities of a request.
    fn parts(
        &self,
        user: &OAuthUser,
        tool: &str,
    ) -> anyhow::Result<(EntityUid, EntityUid, Entities)> {
        let principal = uid("AgentCore::OAuthUser", &user.sub)?;
        let action = uid("AgentCore::Action", tool)?;
        if !self.schema.actions().any(|known| *known == action) {
            bail!("the policy schema has no action {tool}");
        }
        let tags = user.tags.iter().map(|(name, value)| {
            (
                name.clone(),
                RestrictedExpression::new_string(value.clone()),
            )
        });
        let entity = Entity::new_with_tags(
            principal.clone(),
            [(
                "id".to_owned(),
                RestrictedExpression::new_string(user.sub.clone()),
            )],
            [],
            tags,
        )
        .map_err(|error| anyhow!("building the principal entity: {error}"))?;
        let gateway = Entity::new_no_attrs(self.gateway.clone(), Default::default());
        let entities = Entities::from_entities([entity, gateway], Some(&self.schema))
            .map_err(|error| anyhow!("the principal does not fit the policy schema: {error}"))?;
        Ok((principal, action, entities))
    }
}

/// `Type::"id"`, the id quoted as a Cedar string (JSON string escapes are Cedar's).
fn uid(kind: &str, id: &str) -> anyhow::Result<EntityUid> {
    EntityUid::from_str(&format!("{kind}::{}", Value::String(id.to_owned())))
        .map_err(|error| anyhow!("{kind} id {id:?} is not a Cedar entity id: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_string_tags() {
        assert_eq!(claim_tag(&json!("CUST-001")), "CUST-001");
        assert_eq!(claim_tag(&json!(["support-staff"])), "support-staff");
        assert_eq!(claim_tag(&json!(["a", "b"])), r#"["a","b"]"#);
        assert_eq!(claim_tag(&json!(1_700_000_000)), "1700000000");
        assert_eq!(claim_tag(&json!(true)), "true");
    }
}
